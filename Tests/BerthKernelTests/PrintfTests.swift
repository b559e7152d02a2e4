import BerthKernel
import Testing

/// The printf formatting of numbers that replaced `String(format:)` (FoundationEssentials has none).
@Suite("Printf")
struct PrintfTests {
    @Test func printfFormatsNumbersAsC() {
        #expect(Printf.string("%.1f", 2.26) == "2.3" && Printf.string("%.1f", -0.04) == "-0.0")
        #expect(Printf.string("%.2fs", 1.5) == "1.50s")
        #expect(Printf.string("%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", Int32(2026), Int32(12), Int32(3), Int32(9), Int32(5), Int32(0), Int32(7))
                == "2026-12-03T09:05:00.007Z")
        #expect(Printf.string("%.1f", 1e300).count == 303, "longer than the first buffer")
        #expect(Printf.hex([0x00, 0x0f, 0xa0, 0xff]) == "000fa0ff")
    }
}
