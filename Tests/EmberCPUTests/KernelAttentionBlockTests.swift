import EmberIR
import EmberOps
import EmberTestSupport
import Testing

@testable import EmberCPU

/// The attention kernel on the shapes its blocks and tiles are cut for (blocks of 48 queries,
/// tiles of 6 keys or queries by 16 lanes, strips of 16 value columns), and on sizes that are
/// not multiples of any of them, against the op's reference evaluation.
@Suite struct KernelAttentionBlockTests {
    func attention(_ attributes: [(String, Attribute)] = []) throws -> any Operator {
        try makeOp("attention", attributes)
    }

    /// BERT's 3-D form (12 heads of 64), with its padding mask broadcast over heads and queries.
    @Test(arguments: [1, 5, 47, 48, 49, 77, 130])
    func bertThreeDimensionalForm(seq: Int) throws {
        let op = try attention([("q_num_heads", .int(12)), ("kv_num_heads", .int(12))])
        var padding = randomFloats([2, 1, 1, seq], seed: 4).floats()
        for j in (seq * 3 / 4)..<seq { padding[seq + j] = -.infinity }
        let inputs = (0..<3).map { randomFloats([2, seq, 768], in: -2...2, seed: UInt64($0)) }
        try checkKernel(op, inputs + [Tensor(shape: [2, 1, 1, seq], floats: padding)])
        // The same padding expanded over queries, as newer exports write it, and a mask that
        // differs per query: transposed once per batch and shared by the heads.
        let expanded = (0..<2).flatMap { b in (0..<seq).flatMap { _ in padding[(b * seq)..<((b + 1) * seq)] } }
        try checkKernel(op, inputs + [Tensor(shape: [2, 1, seq, seq], floats: expanded)])
        try checkKernel(op, inputs + [randomFloats([2, 1, seq, seq], seed: 5)])
    }

    /// The 4-D form with head size 64, seq 64 to 512 and odd lengths, queries and keys differing.
    @Test(arguments: [(64, 64), (128, 128), (100, 131), (512, 512), (7, 3), (50, 6)])
    func fourDimensionalForm(seq: Int, keys: Int) throws {
        let q = randomFloats([1, 2, seq, 64], seed: 1), k = randomFloats([1, 2, keys, 64], seed: 2)
        let v = randomFloats([1, 2, keys, 64], seed: 3)
        try checkKernel(try attention(), [q, k, v, randomFloats([1, 1, 1, keys], seed: 4)])
        try checkKernel(try attention([("is_causal", .int(1))]), [q, k, v])
    }

    /// Value and head sizes that leave partial strips, with every kind of mask and term.
    @Test func oddSizesWithEveryTerm() throws {
        let q = randomFloats([2, 4, 53, 24], seed: 1), k = randomFloats([2, 2, 61, 24], seed: 2)
        let v = randomFloats([2, 2, 61, 40], seed: 3)
        try checkKernel(try attention(), [q, k, v, randomFloats([2, 4, 53, 61], seed: 4)])
        try checkKernel(try attention([("softcap", .float(1.5))]), [q, k, v, randomFloats([53, 61], seed: 5)])
        try checkKernel(try attention([("is_causal", .int(1))]), [q, k, v, Tensor.random(.bool, [2, 1, 53, 61], seed: 6)])
        try checkKernel(try attention(), [q, k, v, Tensor.random(.bool, [2, 1, 1, 61], seed: 7)])
        try checkKernel(try attention(), [q, k, v, Tensor.random(.bool, [2, 4, 53, 61], seed: 9)])
        try checkKernel(
            try attention([("left_window_size", .int(5)), ("right_window_size", .int(0))]),
            [q, k, v, randomFloats([2, 1, 1, 40], seed: 8)])
    }
}

extension KernelAttentionBlockTests {
    /// A mask per query too large to transpose whole (over 4M values per batch and head) is
    /// transposed block by block.
    @Test func largeMaskPerQuery() throws {
        let (seq, keys) = (2050, 2100)
        let q = randomFloats([1, 1, seq, 8], seed: 1), k = randomFloats([1, 1, keys, 8], seed: 2)
        let v = randomFloats([1, 1, keys, 8], seed: 3)
        try checkKernel(try attention(), [q, k, v, randomFloats([seq, keys], seed: 4)])
    }
}

extension KernelAttentionBlockTests {
    /// A float mask per key that masks every key of one batch: the key product finds -infinity
    /// as the largest score, and those queries give zeros, as the reference does.
    @Test func floatMaskMaskingEveryKey() throws {
        let q = randomFloats([2, 3, 50, 16], seed: 1), k = randomFloats([2, 3, 20, 16], seed: 2)
        let v = randomFloats([2, 3, 20, 16], seed: 3)
        var mask = randomFloats([2, 1, 1, 20], seed: 4).floats()
        for j in 0..<20 { mask[20 + j] = -.infinity }
        try checkKernel(try attention(), [q, k, v, Tensor(shape: [2, 1, 1, 20], floats: mask)])
    }
}
