import EmberIR
import EmberOps
import Testing

@Suite struct RegistryTests {
    @Test func opNamesAreUniqueSnakeCase() {
        let names = OperatorRegistry.standard.names
        #expect(Set(names).count == names.count)
        for name in names {
            #expect(name.allSatisfy { $0.isLowercase || $0.isNumber || $0 == "_" }, "op name '\(name)'")
        }
    }

    /// Every op rebuilt from its own attributes is the same op, so printed IR parses back identically.
    @Test func attributesRoundTripForEveryOpWithDefaults() throws {
        var checked = 0
        for name in OperatorRegistry.standard.names {
            guard let op = try? OperatorRegistry.standard.make(name, Attributes(op: name)) else { continue }
            let rebuilt = try OperatorRegistry.standard.make(name, op.attributes)
            #expect(rebuilt.attributes == op.attributes, "op \(name)")
            #expect(rebuilt.isEquivalent(to: op))
            checked += 1
        }
        #expect(checked > 0)
    }

    @Test func unknownAttributesAreRefused() {
        for name in OperatorRegistry.standard.names {
            #expect(throws: EmberError.self, "op \(name)") {
                try OperatorRegistry.standard.make(name, Attributes(op: name, [("no_such_attribute", .int(1))]))
            }
        }
    }
}
