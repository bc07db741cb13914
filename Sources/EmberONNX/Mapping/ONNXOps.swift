import EmberIR
import EmberOps

/// The ONNX op types (default domain) Ember imports, and how.
public enum ONNXOps {
    public static let table: [String: ONNXConverter] = [
        elementwise, reduction, normalization, linearAlgebra, convolution, attention, dataMovement,
    ].reduce(into: [:]) { table, family in table.merge(family) { first, _ in first } }

    /// The Ember op each `.custom` converter emits, for listings (`ember ops`): a custom converter
    /// is a function, so what it makes is said here; `.direct` entries name their op themselves.
    /// A test checks that every custom entry of `table` is listed.
    public static let customProducts: [String: any Operator.Type] = Dictionary(
        uniqueKeysWithValues: reductions.map { ($0.opType, $0.op) }
    ).merging([
        "CastLike": Cast.self, "BatchNormalization": BatchNorm.self, "GroupNormalization": GroupNorm.self,
    ]) { first, _ in first }

    /// The Ember op an ONNX op type imports as, where one op is all it becomes.
    public static func product(of opType: String) -> (any Operator.Type)? {
        switch table[opType] {
        case .direct(let op)?: op
        case .custom?: customProducts[opType]
        case nil: nil
        }
    }
}
