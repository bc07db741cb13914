import EmberCPU
import EmberIR
import Testing

@Suite struct LayoutTests {
    @Test func blockedLayoutPadsChannels() {
        #expect(CPULayout.plain.byteCount(shape: [2, 3, 4, 5], dtype: .f32) == 2 * 3 * 4 * 5 * 4)
        #expect(CPULayout.channelBlocked(16).byteCount(shape: [2, 3, 4, 5], dtype: .f32) == 2 * 16 * 4 * 5 * 4)
        #expect(CPULayout.channelBlocked(16).byteCount(shape: [1, 32, 7], dtype: .f32) == 32 * 7 * 4)
        #expect(!CPULayout.channelBlocked(8).allows(rank: 2))
    }
}
