import BrigantineCore
import Foundation

/// Where a script's modules may come from: its project's root directory.
public enum ScriptLocation {
    /// The project directory when the script lives in it; otherwise the nearest directory
    /// above the script that looks like a project root (package.json, brigade.json,
    /// node_modules or .git); otherwise the script's own directory.
    public static func moduleRoot(for script: BuildRequest.Script, project: Project, projectFileGiven: Bool) -> String {
        let scriptDirectory = URL(fileURLWithPath: script.path).deletingLastPathComponent().standardizedFileURL.path
        // The script's path has its links followed (see `Project.defaultScriptFile`), so the
        // project directory's real path is compared too.
        let projectDirectories = Set([project.directory, realPath(project.directory) ?? project.directory])
        if projectFileGiven, projectDirectories.contains(where: { scriptDirectory == $0 || scriptDirectory.hasPrefix($0 + "/") }) {
            return project.directory
        }
        let markers = ["package.json", "brigade.json", "node_modules", ".git"]
        var directory = scriptDirectory
        while true {
            if markers.contains(where: { FileManager.default.fileExists(atPath: (directory as NSString).appendingPathComponent($0)) }) {
                return directory
            }
            let parent = (directory as NSString).deletingLastPathComponent
            if parent == directory || parent.isEmpty { return scriptDirectory }
            directory = parent
        }
    }
}
