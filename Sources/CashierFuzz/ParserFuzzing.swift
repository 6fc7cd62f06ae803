import CashierJSON

/// What must hold for any input, however bad: the parser returns a value or a failure (it
/// never traps, never recurses past its depth bound), and a failure's byte offset lies inside
/// the input.
enum ParserFuzzing {
    static func check(_ bytes: UnsafeBufferPointer<UInt8>) {
        do throws(JSONParser.Failure) {
            _ = try JSONParser.parse(bytes)
        } catch {
            precondition(error.offset >= 0 && error.offset <= bytes.count, "failure offset \(error.offset) outside \(bytes.count) bytes")
            precondition(!error.description.unicodeScalars.contains("\u{0}"), "a failure message repeats a NUL")
        }
    }
}

#if CASHIER_FUZZING
/// libFuzzer's entry point: one input.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    ParserFuzzing.check(UnsafeBufferPointer(start: data, count: data == nil ? 0 : size))
    return 0
}

@_silgen_name("LLVMFuzzerRunDriver")
private func runFuzzerDriver(
    _ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32

/// SwiftPM links a debug executable's entry point as `<module>_main` (so tests can import the
/// module) and points `main` there; libFuzzer's own `main` is then not linked, so this hands
/// the command line to libFuzzer's driver itself.
@_cdecl("CashierFuzz_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var count = argc
    var arguments = argv
    return runFuzzerDriver(&count, &arguments) { data, size in fuzzOneInput(data, size) }
}
#else
import Foundation

/// Without the fuzzer: runs each file named on the command line through the same checks, so
/// a crashing input libFuzzer saved can be replayed under the debugger of an ordinary build.
@main
struct CorpusReplay {
    static func main() throws {
        var files = 0
        for path in CommandLine.arguments.dropFirst() {
            let urls: [URL]
            let url = URL(fileURLWithPath: path)
            if (try? url.resourceValues(forKeys: [.isDirectoryKey]).isDirectory) == true {
                urls = try FileManager.default.contentsOfDirectory(at: url, includingPropertiesForKeys: nil)
            } else {
                urls = [url]
            }
            for file in urls {
                let bytes = [UInt8](try Data(contentsOf: file))
                bytes.withUnsafeBufferPointer(ParserFuzzing.check)
                files += 1
            }
        }
        print("replayed \(files) inputs")
    }
}
#endif
