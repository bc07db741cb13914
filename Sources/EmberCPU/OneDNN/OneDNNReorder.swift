import EmberDNNL
import EmberIR

/// A layout conversion as a oneDNN reorder.
struct ReorderBuilder: PlanBuilder {
    let from: CPULayout, to: CPULayout

    func plan(_ shapes: [[Int]?]) throws -> Plan {
        guard let shape = shapes[0] else { throw EmberError(.unsupported, "a conversion of unknown shape") }
        let (src, dst) = (try MemoryDesc.make(shape, from), try MemoryDesc.make(shape, to))
        return Plan(try Reorder.make(from: src, to: dst), [
            Binding(arg: DNNL_ARG_SRC, desc: src, source: .input(0)),
            Binding(arg: DNNL_ARG_DST, desc: dst, source: .output(0)),
        ])
    }
}
