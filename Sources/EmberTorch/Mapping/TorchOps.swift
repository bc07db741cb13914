import EmberIR
import EmberOps

/// How one ATen op becomes Ember ops: a function that reads the node's arguments through the
/// context and emits whatever nodes it needs.
public typealias TorchConverter = @Sendable (inout TorchNodeContext) throws -> Void

/// The ATen ops (and the few Python operators on sizes) Ember imports, by target without the
/// `torch.ops.` prefix: `aten.convolution.default`. Both the default export IR and the core ATen
/// set left by `run_decompositions()` are covered. In-place variants (`aten.add_.Tensor`) import
/// as their functional form: an exported inference graph never observes the mutation.
public enum TorchOps {
    public static let table: [String: TorchConverter] = [
        elementwise, activations, normalization, linearAlgebra, convolution, reduction, dataMovement, creation,
        symbolic,
    ].reduce(into: [:]) { table, family in table.merge(family) { first, _ in first } }

    /// The converter for a target, falling back from an in-place variant to its functional form.
    public static func converter(_ target: String) -> TorchConverter? {
        if let c = table[target] { return c }
        let parts = target.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[1].hasSuffix("_"), !parts[1].hasPrefix("_") || parts[1].dropFirst().contains("_") else {
            return nil
        }
        let functional = "\(parts[0]).\(parts[1].dropLast()).\(parts[2])"
        return table[functional]
    }

    /// `torch.ops.aten.add.Tensor` -> `aten.add.Tensor`.
    public static func shortName(_ target: String) -> String {
        target.hasPrefix("torch.ops.") ? String(target.dropFirst("torch.ops.".count)) : target
    }

    /// `aten.add.Tensor` -> `aten.add`, for messages.
    static func opName(_ target: String) -> String {
        let parts = target.split(separator: ".")
        return parts.count == 3 ? parts.prefix(2).joined(separator: ".") : target
    }

    /// Registers `converter` under each target.
    static func all(_ targets: [String], _ converter: @escaping TorchConverter) -> [(String, TorchConverter)] {
        targets.map { ($0, converter) }
    }

    static func dictionary(_ entries: [[(String, TorchConverter)]]) -> [String: TorchConverter] {
        Dictionary(entries.flatMap { $0 }, uniquingKeysWith: { first, _ in first })
    }
}
