import BrigantineCore
import Foundation

/// Where a script's modules may come from: its project's root directory.
public enum ScriptLocation {
    /// The project directory when the script lives in it; otherwise the nearest directory
    /// above the script that looks like a project root (package.json, brigade.json,
    /// node_modules or .git); otherwise the script's own directory.
    public static func moduleRoot(for script: BuildRequest.Script, project: Project, projectFileGiven: Bool) -> String {
        let scriptDirectory = URL(fileURLWithPath: script.path).deletingLastPathComponent().standardizedFileURL.path
        if projectFileGiven, scriptDirectory == project.directory || scriptDirectory.hasPrefix(project.directory + "/") {
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
