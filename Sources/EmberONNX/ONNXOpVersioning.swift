/// Which version of an ONNX op a model means, given the opset it imports.
///
/// Ember's converters implement each op as it is defined from opset 13 on. A model importing an
/// older opset is accepted as long as every op it uses has not changed since its version at that
/// opset, so `And` at opset 7 imports, while `Softmax` at opset 11 (whose meaning changed in 13) is refused.
public enum ONNXOpVersions {
    /// The oldest opset a model may import.
    public static let oldestOpset = 7
    /// The opset whose op definitions (and every later one) the converters implement.
    public static let baselineOpset = 13

    /// The version of `op` in effect at `opset`: its latest change at or before it.
    public static func version(of op: String, atOpset opset: Int) -> Int? {
        changes[op]?.last { $0 <= opset }
    }

    /// Whether `op` at `opset` means what it means at the baseline opset or later.
    public static func isSupported(_ op: String, atOpset opset: Int) -> Bool {
        guard opset < baselineOpset else { return true }
        guard let version = version(of: op, atOpset: opset) else { return false }
        return version == self.version(of: op, atOpset: baselineOpset)
    }
}
