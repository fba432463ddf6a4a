import Testing
@testable import Worker

/// The bookkeeping of when a lane's builds are due. Instants are made from one base, so
/// nothing here depends on how fast the test runs.
@Suite struct WakeScheduleTests {
    final class Build {}
    let base = ContinuousClock.now
    func at(_ milliseconds: Int) -> ContinuousClock.Instant { base + .milliseconds(milliseconds) }

    /// A build that was stepped for another reason (a job finished) and files the wake time
    /// it already had is still due at that time. The lane lost such builds before: they
    /// waited for a wake-up that never came.
    @Test func refilingTheSameTimeKeepsTheBuildDue() {
        let build = Build(), id = ObjectIdentifier(build)
        var schedule = WakeSchedule()
        schedule.file(id, at: at(20))
        schedule.file(id, at: at(20))
        #expect(schedule.nextTime() == at(20))
        #expect(schedule.takeDue(at: at(19)).isEmpty)
        #expect(schedule.takeDue(at: at(21)) == [id])
        #expect(schedule.takeDue(at: at(100)).isEmpty, "due once")
        #expect(schedule.nextTime() == nil)
    }

    @Test func onlyTheLatestTimeCounts() {
        let early = Build(), late = Build()
        var schedule = WakeSchedule()
        schedule.file(ObjectIdentifier(early), at: at(10))
        schedule.file(ObjectIdentifier(late), at: at(30))
        schedule.file(ObjectIdentifier(early), at: at(50)) // its 10 ms entry is stale now
        #expect(schedule.nextTime() == at(30))
        #expect(schedule.takeDue(at: at(40)) == [ObjectIdentifier(late)])
        #expect(schedule.takeDue(at: at(60)) == [ObjectIdentifier(early)])

        schedule.file(ObjectIdentifier(early), at: at(70))
        schedule.file(ObjectIdentifier(early), at: nil) // waits to be woken instead
        #expect(schedule.takeDue(at: at(80)).isEmpty)
    }

    @Test func finishedBuildsAreNeverDue() {
        let build = Build(), other = Build()
        var schedule = WakeSchedule()
        schedule.file(ObjectIdentifier(build), at: at(5))
        schedule.file(ObjectIdentifier(other), at: at(6))
        schedule.remove(ObjectIdentifier(build))
        #expect(schedule.nextTime() == at(6))
        #expect(schedule.takeDue(at: at(10)) == [ObjectIdentifier(other)])
    }

    /// Stale entries are dropped when they pile up, and no live time goes with them.
    @Test func compactingKeepsEveryLiveTime() {
        let builds = (0..<10).map { _ in Build() }
        var schedule = WakeSchedule()
        for round in 0..<50 {
            for (index, build) in builds.enumerated() {
                schedule.file(ObjectIdentifier(build), at: at(1_000 + round * 10 + index))
            }
        }
        let due = schedule.takeDue(at: at(10_000))
        #expect(Set(due) == Set(builds.map(ObjectIdentifier.init)))
        #expect(due.count == builds.count)
    }
}
