import HeapModule

/// When each live build of a lane is to be stepped next, and which builds are due.
///
/// A build has at most one wake time: filing a new one replaces the old. Replaced times
/// stay in the heap until they come up (popping is cheaper than searching) and are then
/// recognised as stale. A build that files the time it already has keeps its entry, and
/// that entry stays good whatever else happened to the build meanwhile.
struct WakeSchedule {
    private var wakeAt: [ObjectIdentifier: ContinuousClock.Instant] = [:]
    private var heap = Heap<Entry>()

    private struct Entry: Comparable {
        let time: ContinuousClock.Instant
        let build: ObjectIdentifier

        static func < (lhs: Entry, rhs: Entry) -> Bool { lhs.time < rhs.time }
        static func == (lhs: Entry, rhs: Entry) -> Bool { lhs.time == rhs.time && lhs.build == rhs.build }
    }

    /// Sets when `build` is to be stepped next (nil: only when something wakes it).
    mutating func file(_ build: ObjectIdentifier, at time: ContinuousClock.Instant?) {
        guard wakeAt[build] != time else { return } // its entry for that time is in the heap
        wakeAt[build] = time
        if let time { heap.insert(Entry(time: time, build: build)) }
        // Entries of builds that filed again, or are gone, wait in the heap until due (a
        // build's deadline is an hour off): start over from the live times when they pile up.
        if heap.count > 2 * wakeAt.count + 64 {
            heap = Heap(wakeAt.map { Entry(time: $1, build: $0) })
        }
    }

    /// Forgets `build` (it finished).
    mutating func remove(_ build: ObjectIdentifier) {
        wakeAt[build] = nil
    }

    /// The earliest wake time of any build, if any has one.
    mutating func nextTime() -> ContinuousClock.Instant? {
        while let first = heap.min, wakeAt[first.build] != first.time { heap.removeMin() }
        return heap.min?.time
    }

    /// The builds whose wake time has come by `now`, each once; their wake times are cleared.
    mutating func takeDue(at now: ContinuousClock.Instant) -> [ObjectIdentifier] {
        var due: [ObjectIdentifier] = []
        while let first = heap.min, first.time <= now {
            heap.removeMin()
            guard wakeAt[first.build] == first.time else { continue } // replaced or gone
            wakeAt[first.build] = nil
            due.append(first.build)
        }
        return due
    }
}
