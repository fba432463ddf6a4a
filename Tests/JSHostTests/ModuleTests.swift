import BrigantineCore
import Foundation
import JSHost
import Testing

/// CommonJS as Node does it (spec 3.4), confined to the project's root.
@Suite struct ModuleTests {
    @Test func nodeResolution() throws {
        let host = try TestHost()
        try host.write("lib/math.js", "exports.add = (a, b) => a + b; exports.where = [__filename, __dirname];")
        try host.write("lib/data.json", #"{"answer": 42}"#)
        try host.write("lib/dir/index.js", "module.exports = 'from index';")
        try host.write("node_modules/vendored/package.json", #"{"main": "./dist/main"}"#)
        try host.write("node_modules/vendored/dist/main.js", "module.exports = function vendored() { return 'vendored ' + require('./helper'); };")
        try host.write("node_modules/vendored/dist/helper.js", "module.exports = 'helper';")
        try host.write("node_modules/plain/index.js", "module.exports = 'plain';")
        try host.write("deep/er/nested.js", "module.exports = require('plain') + ' from deep';")
        try host.run("""
            const math = require('./lib/math');
            console.log(math.add(2, 3), math.where[0].endsWith('/lib/math.js'), math.where[1].endsWith('/lib'));
            console.log(require('./lib/data.json').answer, require('./lib/data').answer);
            console.log(require('./lib/dir'), require('vendored')(), require('./deep/er/nested.js'));
            console.log(require('./lib/math') === math, require.resolve('plain').endsWith('/node_modules/plain/index.js'));
            console.log(require(__dirname + '/lib/math.js') === math);
            """)
        #expect(host.stdout == ["5 true true", "42 42", "from index vendored helper plain from deep", "true true", "true"])
    }

    @Test func moduleScopeIsNodes() throws {
        let host = try TestHost()
        try host.write("sloppy.js", "implicitGlobal = 'leaked'; module.exports = this === module.exports;")
        try host.write("cycle-a.js", "exports.name = 'a'; exports.b = require('./cycle-b').name; exports.done = true;")
        try host.write("cycle-b.js", "const a = require('./cycle-a'); exports.name = 'b'; exports.sawA = a.name + ':' + a.done;")
        try host.run("""
            console.log(require('./sloppy'), implicitGlobal);
            const a = require('./cycle-a');
            console.log(a.b, require('./cycle-b').sawA, a.done);
            console.log(require.main === module, module.id, typeof exports, this === module.exports);
            """)
        #expect(host.stdout == ["true leaked", "b a:undefined true", "true . object true"])
    }

    @Test func failuresAreClear() throws {
        let host = try TestHost()
        try host.write("broken.json", "{ nope")
        try host.write("throws.js", "throw new Error('module failed');")
        try host.run("""
            const attempts = ['./missing', 'left-pad', 'fs', '../outside', '/etc/passwd', './broken.json', './throws', './throws'];
            for (const request of attempts) {
              try { require(request); console.log(request, 'loaded'); } catch (e) { console.log(e.code || e.name, e.message.split('\\n')[0]); }
            }
            """)
        let root = host.directory.path
        #expect(host.stdout == [
            "MODULE_NOT_FOUND Cannot find module './missing' from '\(root)/main.js'",
            "MODULE_NOT_FOUND Cannot find module 'left-pad' from '\(root)/main.js'",
            "MODULE_NOT_FOUND Cannot find module 'fs' from '\(root)/main.js': Node's 'fs' module is not available to Brigade scripts here",
            "MODULE_NOT_FOUND Cannot find module '../outside' from '\(root)/main.js': it is outside the project directory",
            "MODULE_NOT_FOUND Cannot find module '/etc/passwd' from '\(root)/main.js': it is outside the project directory",
            "SyntaxError \(root)/broken.json: JSON Parse error: Expected '}'",
            "Error module failed",
            "Error module failed",
        ])
    }

    /// Node follows symbolic links anywhere; here a link may lead only to a regular file
    /// inside the project directory. Before, `env.json -> /proc/self/environ` in a repository
    /// put the host's environment into a SyntaxError in the build log, and a link to any
    /// JSON file handed the script its content. A FIFO or device in a module's place fails
    /// at once with what it is instead of blocking the worker or filling its memory.
    @Test func linksOutOfTheProjectAndSpecialFilesAreNotRead() throws {
        let host = try TestHost()
        let outside = FileManager.default.temporaryDirectory.appendingPathComponent("jshost-outside-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: outside, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: outside) }
        try #"{"token": "not-for-scripts"}"#.write(to: outside.appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
        try "module.exports = 'outside';".write(to: outside.appendingPathComponent("index.js"), atomically: true, encoding: .utf8)
        try host.write("lib/real.js", "module.exports = 'inside';")
        let root = host.directory.path
        try FileManager.default.createDirectory(atPath: root + "/node_modules", withIntermediateDirectories: true)
        let links = [
            "config.json": outside.path + "/config.json", "env.json": "/proc/self/environ", "zero.js": "/dev/zero",
            "node_modules/shared": outside.path, "inner.js": "lib/real.js", "libs": "lib",
        ]
        for (name, target) in links {
            try FileManager.default.createSymbolicLink(atPath: root + "/" + name, withDestinationPath: target)
        }
        #expect(mkfifo(root + "/pipe.js", 0o600) == 0)
        try host.run("""
            for (const request of ['./config.json', './env.json', './zero.js', './pipe.js', 'shared', './inner', './libs/real']) {
              try { console.log(request, JSON.stringify(require(request))); } catch (e) { console.log(request, e.message); }
            }
            """)
        let outsideReal = realPath(outside.path)!
        #expect(host.stdout == [
            "./config.json cannot read \(root)/config.json: it leads to \(outsideReal)/config.json, outside the project directory",
            "./env.json cannot read \(root)/env.json: it leads to /proc/\(getpid())/environ, outside the project directory",
            "./zero.js cannot read \(root)/zero.js: is a device, not a regular file",
            "./pipe.js cannot read \(root)/pipe.js: is a FIFO, not a regular file",
            "shared cannot read \(root)/node_modules/shared/index.js: it leads to \(outsideReal)/index.js, outside the project directory",
            #"./inner "inside""#,
            #"./libs/real "inside""#,
        ])
    }

    @Test func nodeBuiltins() throws {
        let host = try TestHost()
        try host.run("""
            const EventEmitter = require('events'), path = require('node:path'), util = require('util'), assert = require('assert');
            const emitter = new EventEmitter();
            emitter.once('x', (v) => console.log('once', v));
            console.log(emitter.emit('x', 1), emitter.emit('x', 2), emitter.listenerCount('x'));
            console.log(path.join('/a/b', '../c', 'd.js'), path.basename('/x/y.tar.gz', '.gz'), path.extname('f.js'), path.resolve('a', '/b', 'c'));
            console.log(util.format('%s=%d %j', 'n', 42, { a: [1] }), util.isDeepStrictEqual({ a: [1] }, { a: [1] }));
            try { assert.strictEqual(1, 2); } catch (e) { console.log(e.name, e.code); }
            assert.deepStrictEqual({ a: 1 }, { a: 1 });
            util.promisify((x, cb) => cb(null, x * 2))(21).then((v) => console.log('promisified', v));
            """)
        #expect(host.stdout == [
            "once 1", "true false 0", "/a/c/d.js y.tar .js /b/c", #"n=42 {"a":[1]} true"#,
            "AssertionError ERR_ASSERTION", "promisified 42",
        ])
    }
}

@Suite struct BufferTests {
    @Test func encodingsRoundTrip() throws {
        let host = try TestHost()
        try host.run("""
            const b = Buffer.from('héllo 🚀');
            console.log(b.length, b.toString('hex'), b.toString('base64'), b.toString());
            console.log(Buffer.from('aMOpbGxvIPCfmoA=', 'base64').toString(), Buffer.from('68c3a9', 'hex').toString('utf8'));
            console.log(Buffer.from('user:pass').toString('base64'), atob(btoa('plain')), Buffer.byteLength('€'));
            console.log(Buffer.concat([Buffer.from('ab'), Buffer.from('cd')]).toString(), Buffer.isBuffer(b), b.slice(0, 1).toString());
            // Node: one U+FFFD per invalid byte or broken-off sequence.
            console.log(Buffer.from([0xff, 0x61, 0xe2, 0x82]).toString(), new TextDecoder().decode(new TextEncoder().encode('ünï')),
                        Buffer.from([0xed, 0xa0, 0x80, 0xf0, 0x9f, 0x9a]).toString().length);
            console.log(Buffer.from('abc'), JSON.stringify(Buffer.from('hi')), require('buffer').Buffer === Buffer);
            """)
        #expect(host.stdout == [
            "11 68c3a96c6c6f20f09f9a80 aMOpbGxvIPCfmoA= héllo 🚀",
            "héllo 🚀 hé",
            "dXNlcjpwYXNz plain 3",
            "abcd true h",
            "\u{FFFD}a\u{FFFD} ünï 4",
            #"<Buffer 61 62 63> {"type":"Buffer","data":[104,105]} true"#,
        ])
    }
}
