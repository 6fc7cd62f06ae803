import Foundation

enum Output {
    /// Prints a line to stdout and flushes at once: other processes (tests, `make demo`)
    /// read lines such as `bootstrap=HOST:PORT` as soon as they are printed.
    static func line(_ text: String) {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }
}
