import ArgumentParser
import BrigantineCore
import Foundation

/// The limits a build's script runs under, the same flags for `brig run` and `brig gateway`
/// (a project's file may set its own time limits, within the same bounds).
struct ScriptLimits: ParsableArguments {
    @Option(name: .customLong("script-time-limit"),
            help: "Seconds one entry into a script (a handler, a timer, a job's result, with the promise continuations it sets off) may run without yielding.")
    var scriptTimeLimit: Double = 10

    @Option(name: .customLong("build-timeout"), help: "Seconds a build may take.")
    var buildTimeout: Double = 3600

    @Option(name: .customLong("script-memory-limit"),
            help: "MiB the script heap may grow by while one entry into a script runs.")
    var scriptMemoryLimit = 512

    /// At most a TiB: more than any machine gives a script, and still a byte count an Int holds.
    static let scriptMemoryLimits = NumberBounds("MiB", from: 1, to: Double(1 << 20), meaning: "a TiB")

    func validate() throws {
        _ = try Project.timeLimits.checked(scriptTimeLimit, for: "--script-time-limit")
        _ = try Project.timeLimits.checked(buildTimeout, for: "--build-timeout")
        _ = try Self.scriptMemoryLimits.checked(Double(scriptMemoryLimit), for: "--script-memory-limit")
    }

    var scriptMemoryLimitBytes: Int { scriptMemoryLimit << 20 }
}

extension NumberBounds {
    /// `value`, a number of seconds or days given for `flag`, when it is within these bounds;
    /// otherwise an error that names the flag and the bounds. Each such number becomes a
    /// `Duration` or a date, and one past what those hold (`inf`, `1e300`) stops the process
    /// when it is converted, so every such flag is checked first; NaN is never within.
    func checked(_ value: Double, for flag: String) throws -> Double {
        guard contains(value) else { throw CLIError("\(flag) must be \(self), not \(Self.format(value))") }
        return value
    }
}
