import EmberIR

/// Shape manipulation, indexing, padding, resizing and constants.
public enum DataMovementOps {
    public static let all: [any Operator.Type] = []
}
