import EmberIR
import EmberOps

/// The ONNX op types (default domain) Ember imports, and how.
public enum ONNXOps {
    public static let table: [String: ONNXConverter] = [
        elementwise, reduction, normalization, linearAlgebra, convolution, attention, dataMovement,
    ].reduce(into: [:]) { table, family in table.merge(family) { first, _ in first } }
}
