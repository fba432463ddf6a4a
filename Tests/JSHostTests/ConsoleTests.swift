import Foundation
import JSHost
import Testing

/// console output the way Node shows it (util.format and util.inspect).
@Suite struct ConsoleTests {
    func printed(_ source: String) throws -> [String] {
        let host = try TestHost()
        try host.run(source)
        return host.stdout
    }

    @Test func primitivesAndFormatting() throws {
        #expect(try printed("""
            console.log('text', 42, -0, 1n, true, null, undefined, Symbol('s'));
            console.log('%s has %d items costing %f (%i%%)', 'cart', '3', 9.5, 42.9);
            console.log('%o and %O', [1], { a: 'x' }, 'extra');
            console.log('%j', { nested: { deep: true } });
            console.log();
            """) == [
            "text 42 -0 1n true null undefined Symbol(s)",
            "cart has 3 items costing 9.5 (42%)",
            "[ 1 ] and { a: 'x' } extra",
            #"{"nested":{"deep":true}}"#,
            "",
        ])
    }

    @Test func objectsAndArrays() throws {
        #expect(try printed("""
            console.log({ a: 1, 'b-c': 'two', nested: { deep: { deeper: { deepest: 1 } } }, list: [1, 'x', [2, [3, [4]]]] });
            console.log([], {}, [undefined, null], [ , 1]);
            console.log({ s: "it's", q: 'say "hi"', n: 'line\\nbreak' });
            console.log(new Map([['k', { v: 1 }]]), new Set([1, 'two']), new Map(), new Set());
            class Point { constructor() { this.x = 1; this.y = 2; } }
            console.log(new Point(), Object.create(null), [new Point()]);
            const circular = { name: 'loop' }; circular.self = circular;
            console.log(circular);
            console.log({ get g() { return 1; }, set s(v) {}, f() {}, arrow: () => {}, K: class Klass {} });
            console.log(new Date(0), /re/g, new Number(3), [1, 2, 3].length, new Array(120).fill(0).length);
            console.log({ long: 'x'.repeat(60), other: 'y'.repeat(20) });
            """) == [
            // What Node 20 prints for the same statements.
            "{", "  a: 1,", "  'b-c': 'two',", "  nested: { deep: { deeper: [Object] } },", "  list: [ 1, 'x', [ 2, [Array] ] ]", "}",
            "[] {} [ undefined, null ] [ <1 empty item>, 1 ]",
            #"{ s: "it's", q: 'say "hi"', n: 'line\nbreak' }"#,
            "Map(1) { 'k' => { v: 1 } } Set(2) { 1, 'two' } Map(0) {} Set(0) {}",
            "Point { x: 1, y: 2 } [Object: null prototype] {} [ Point { x: 1, y: 2 } ]",
            "<ref *1> { name: 'loop', self: [Circular *1] }",
            "{", "  g: [Getter],", "  s: [Setter],", "  f: [Function: f],", "  arrow: [Function: arrow],", "  K: [class Klass]", "}",
            "1970-01-01T00:00:00.000Z /re/g [Number: 3] 3 120",
            "{",
            "  long: '\(String(repeating: "x", count: 60))',",
            "  other: '\(String(repeating: "y", count: 20))'",
            "}",
        ])
    }

    @Test func errorsShowNameMessageAndFrames() throws {
        let lines = try printed("""
            function inner() { return new TypeError('bad thing'); }
            const err = inner();
            err.code = 'E_BAD';
            console.log(err);
            console.log(String(err), `${new Error('plain')}`);
            """)
        #expect(lines.first == "TypeError: bad thing")
        #expect(lines.dropFirst().first?.hasPrefix("    at inner (\(FileManager.default.temporaryDirectory.path)") == true)
        #expect(lines.dropFirst().first?.contains("/main.js:1:") == true)
        #expect(lines.dropLast().suffix(2) == ["  code: 'E_BAD'", "}"])
        #expect(lines.last == "TypeError: bad thing Error: plain")
    }

    @Test func streamsGroupsAndPartialLines() throws {
        let host = try TestHost()
        try host.run("""
            console.error('to stderr'); console.warn('warned');
            console.group('group'); console.info('inside'); console.groupEnd(); console.log('outside');
            process.stdout.write('part one, '); process.stdout.write('part two\\n');
            console.count(); console.count(); console.count('x');
            console.assert(1 === 2, 'math broke');
            """)
        #expect(host.stdout == ["group", "  inside", "outside", "part one, part two", "default: 1", "default: 2", "x: 1"])
        #expect(host.stderr == ["to stderr", "warned", "Assertion failed: math broke"])
    }
}
