import EmberIR

/// Moves `blocksize x blocksize` blocks of channels into space: `[N, C, H, W]` becomes
/// `[N, C / b², H * b, W * b]`. In `DCR` mode the channel index is (depth, column, row) ordered,
/// with the block row outermost; in `CRD` mode the channel comes first.
public struct DepthToSpace: Operator {
    public static let name = "depth_to_space"
    public static let inputArity: ClosedRange<Int> = 1...1
    public static var traits: OpTraits { .dataMovement }

    public enum Mode: String, Sendable, CaseIterable { case dcr = "DCR", crd = "CRD" }

    public var blockSize: Int
    public var mode: Mode

    public init(blockSize: Int, mode: Mode = .dcr) {
        self.blockSize = blockSize
        self.mode = mode
    }
    public init(attributes: Attributes) throws {
        try attributes.expectOnly(["blocksize", "mode"])
        guard let b = try attributes.int("blocksize"), b >= 1, b <= 1 << 16 else {
            throw EmberError(.invalidArgument, "[\(Self.name)] attribute 'blocksize' is required, expected 1 to 65536")
        }
        blockSize = b
        let text = try attributes.string("mode", default: "DCR")
        guard let mode = Mode(rawValue: text) else {
            throw EmberError(.invalidArgument, "[\(Self.name)] mode '\(text)' expected DCR or CRD")
        }
        self.mode = mode
    }
    public var attributes: Attributes {
        Attributes(op: Self.name, [("blocksize", .int(blockSize)), ("mode", .string(mode.rawValue))])
    }

    public func inferTypes(_ inputs: OpInputs, outputCount: Int) throws -> [TensorType] {
        let x = try inputs.type(0)
        try x.expectRank(4, Self.name)
        guard let s = x.shape else { return [TensorType(x.dtype, [.unknown, .unknown, .unknown, .unknown])] }
        let b = blockSize
        var channels = Dim.unknown
        if let c = s[1].value {
            guard c % (b * b) == 0 else {
                throw EmberError(.shapeMismatch, "[\(Self.name)] \(c) channels do not divide by blocksize² \(b * b)")
            }
            channels = .known(c / (b * b))
        } else if b == 1 {
            channels = s[1]
        }
        func scaled(_ d: Dim) -> Dim { b == 1 ? d : (d.value.map { .known($0 * b) } ?? .unknown) }
        return [TensorType(x.dtype, [s[0], channels, scaled(s[2]), scaled(s[3])])]
    }

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        let x = try inputs.required(0, Self.name)
        guard x.rank == 4 else {
            throw EmberError(.shapeMismatch, "[\(Self.name)] input has rank \(x.rank), expected 4")
        }
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let b = blockSize
        guard c % (b * b) == 0 else {
            throw EmberError(.shapeMismatch, "[\(Self.name)] \(c) channels do not divide by blocksize² \(b * b)")
        }
        let d = c / (b * b)
        let indices: [Int]
        switch mode {
        case .dcr: indices = IndexMaps.transpose([n, b, b, d, h, w], perm: [0, 3, 4, 1, 5, 2])
        case .crd: indices = IndexMaps.transpose([n, d, b, b, h, w], perm: [0, 1, 4, 2, 5, 3])
        }
        return [x.gathering(indices, shape: [n, d, h * b, w * b])]
    }
}

/// Moves `blocksize x blocksize` spatial blocks into channels: `[N, C, H, W]` becomes
/// `[N, C * b², H / b, W / b]`, the inverse of `depth_to_space` in the same `mode`.
public struct SpaceToDepth: Operator {
    public static let name = "space_to_depth"
    public static let inputArity: ClosedRange<Int> = 1...1
    public static var traits: OpTraits { .dataMovement }

    public var blockSize: Int
    public var mode: DepthToSpace.Mode

    public init(blockSize: Int, mode: DepthToSpace.Mode = .dcr) {
        self.blockSize = blockSize
        self.mode = mode
    }
    public init(attributes: Attributes) throws {
        try attributes.expectOnly(["blocksize", "mode"])
        guard let b = try attributes.int("blocksize"), b >= 1, b <= 1 << 16 else {
            throw EmberError(.invalidArgument, "[\(Self.name)] attribute 'blocksize' is required, expected 1 to 65536")
        }
        blockSize = b
        let text = try attributes.string("mode", default: "DCR")
        guard let mode = DepthToSpace.Mode(rawValue: text) else {
            throw EmberError(.invalidArgument, "[\(Self.name)] mode '\(text)' expected DCR or CRD")
        }
        self.mode = mode
    }
    public var attributes: Attributes {
        Attributes(op: Self.name, [("blocksize", .int(blockSize)), ("mode", .string(mode.rawValue))])
    }

    public func inferTypes(_ inputs: OpInputs, outputCount: Int) throws -> [TensorType] {
        let x = try inputs.type(0)
        try x.expectRank(4, Self.name)
        guard let s = x.shape else { return [TensorType(x.dtype, [.unknown, .unknown, .unknown, .unknown])] }
        let b = blockSize
        func divided(_ d: Dim) throws -> Dim {
            if b == 1 { return d }
            guard let v = d.value else { return .unknown }
            guard v % b == 0 else {
                throw EmberError(.shapeMismatch, "[\(Self.name)] spatial dim \(v) does not divide by blocksize \(b)")
            }
            return .known(v / b)
        }
        let channels: Dim = b == 1 ? s[1] : (s[1].value.map { .known($0 * b * b) } ?? .unknown)
        return [TensorType(x.dtype, [s[0], channels, try divided(s[2]), try divided(s[3])])]
    }

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        let x = try inputs.required(0, Self.name)
        guard x.rank == 4 else {
            throw EmberError(.shapeMismatch, "[\(Self.name)] input has rank \(x.rank), expected 4")
        }
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let b = blockSize
        guard h % b == 0, w % b == 0 else {
            throw EmberError(.shapeMismatch, "[\(Self.name)] spatial dims \(h)x\(w) do not divide by blocksize \(b)")
        }
        let perm = mode == .dcr ? [0, 3, 5, 1, 2, 4] : [0, 1, 3, 5, 2, 4]
        let indices = IndexMaps.transpose([n, c, h / b, b, w / b, b], perm: perm)
        return [x.gathering(indices, shape: [n, c * b * b, h / b, w / b])]
    }
}
