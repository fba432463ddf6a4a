import Foundation
import Testing

/// Spec 8.2 (brigadier's events module) and 1.3 (EventEmitter semantics of `events`).
@Suite struct EventsTests {
    // items 12–14: the internal events module
    @Test func eventsModuleExportsItsClasses() throws {
        let context = try Harness.brigadierContext()
        let text = try context.evaluate("""
            [typeof ev.BrigadeEvent, typeof ev.Project, typeof ev.EventRegistry,
             new ev.BrigadeEvent().type, new ev.BrigadeEvent().logLevel,
             JSON.stringify(new ev.Project())].join(' ')
            """, with: ["ev": "events.js"])
        #expect(text == #"function function function unknown 0 {"secrets":{},"allowPrivilegedJobs":false,"allowHostMounts":false}"#)
    }

    // items 15–18
    @Test func registrySemantics() throws {
        let context = try Harness.brigadierContext()
        let text = try context.evaluate("""
            const r = new ev.EventRegistry();
            const out = [r.has('ping'), r.has('my-event')];
            let ran = false;
            r.on('my-event', () => { ran = true; });
            out.push(r.has('my-event'));
            r.fire({ type: 'my-event' }, {});
            out.push(ran);
            out.push(r.fire({ type: 'nobody-listens' }, {}) === undefined);
            out.join(' ')
            """, with: ["ev": "events.js"])
        #expect(text == "true false true true true")
    }

    @Test func defaultPingHandler() async throws {
        let run = try await Harness.run("require('brigadier')", event: "ping")
        #expect(run.printed == ["ping"])
        #expect(run.succeeded)
    }

    // 1.3: order, `this`, throw aborts the rest, once, handlers added while firing, emit
    @Test func listenerSemantics() async throws {
        let run = try await Harness.run("""
            const { events } = require('brigadier');
            events.on('exec', function () { console.log('first', this === events); });
            events.on('exec', () => {
              console.log('second');
              events.on('next', () => console.log('late handler'));
              events.emit('next');
            });
            events.once('exec', () => console.log('once'));
            console.log('chain', events.on('x', () => {}) === events);
            events.on('boom', () => { throw new Error('stop'); });
            events.on('boom', () => console.log('never'));
            try { events.emit('boom'); } catch (e) { console.log('caught', e.message); }
            try { events.emit('error', 'plain'); } catch (e) { console.log('caught', e.message); }
            events.push = () => console.log('assignment registers nothing');
            """)
        #expect(run.printed == [
            "chain true", "caught stop", "caught Unhandled error. ('plain')",
            "first true", "second", "late handler", "once",
        ])
    }

    // brigade-19: hand-built events through events.fire keep the current event
    @Test func handBuiltEventsAndCause() async throws {
        let run = try await Harness.run("""
            const { events } = require('brigadier');
            events.on('exec', (e, p) => {
              events.fire({ type: 'next', cause: { event: e } }, p);
            });
            events.on('next', (e) => console.log(`fired ${e.type} caused by ${e.cause.event.type}`));
            """)
        #expect(run.printed == ["fired next caused by exec"])
    }
}
