import EmberDNNL
import EmberIR
import Foundation

/// Where a primitive argument's memory comes from during a run.
enum Source {
    case input(Int)
    case output(Int)
    /// Memory the plan owns: reordered weights, constant operands.
    case buffer(AlignedBuffer)
}

/// One primitive argument: its kind (`DNNL_ARG_SRC`...), its descriptor and its memory.
struct Binding {
    var arg: Int32
    var desc: dnnl_memory_desc_t
    var source: Source
}

/// A primitive made for one set of concrete input shapes, with the memory of each argument.
final class Plan: @unchecked Sendable {
    let primitive: Primitive
    let bindings: [Binding]
    /// The input copied into output 0 before the primitive runs (the residual of a sum post-op),
    /// unless the planner already placed output 0 in that input's buffer.
    let prefill: Int?

    init(_ primitive: Primitive, _ bindings: [Binding], prefill: Int? = nil) {
        self.primitive = primitive
        self.bindings = bindings
        self.prefill = prefill
    }
}

/// Makes the plan of one node for concrete input shapes (nil for absent inputs).
protocol PlanBuilder: Sendable {
    func plan(_ shapes: [[Int]?]) throws -> Plan
}

/// A node run by oneDNN: a plan per concrete input shape, made on first use (at once when every
/// shape is known) and cached.
final class OneDNNKernel: CPUKernel, @unchecked Sendable {
    private let builder: any PlanBuilder
    private let location: String
    private let lock = NSLock()
    private var plans: [[[Int]?]: Plan] = [:]

    init(_ builder: any PlanBuilder, node: KernelNode) throws {
        self.builder = builder
        location = node.location
        let known = node.inputTypes.map { $0.map { $0.knownShape } }
        if !known.contains(where: { $0 != nil && $0! == nil }) {
            _ = try plan(for: known.map { $0 ?? nil })
        }
    }

    /// The plan for `shapes`, made under the lock when it is not cached yet.
    func plan(for shapes: [[Int]?]) throws -> Plan {
        lock.lock()
        defer { lock.unlock() }
        if let plan = plans[shapes] { return plan }
        do {
            let plan = try builder.plan(shapes)
            plans[shapes] = plan
            return plan
        } catch let error as EmberError {
            throw error.located(location)
        } catch let error as Unsupported {
            throw EmberError(.unsupported, "[onednn] \(error.reason)", at: location)
        }
    }

    /// The implementation oneDNN chose for `shapes`, for reports and tests.
    func implementation(for shapes: [[Int]?]) throws -> String { try plan(for: shapes).primitive.implementation }

    func run(_ inputs: [TensorView?], _ outputs: [TensorView], _ context: KernelContext) throws {
        guard outputs.allSatisfy({ $0.count > 0 }) else { return }
        let plan = try plan(for: inputs.map { $0?.shape })
        let stream = try context.state { try Stream(try OneDNN.requireEngine()) }
        if let r = plan.prefill, let residual = inputs[r], residual.data != outputs[0].data {
            outputs[0].data.copyMemory(from: residual.data, byteCount: outputs[0].byteCount)
        }
        var args: [(Int32, dnnl_memory_desc_t, UnsafeMutableRawPointer)] = []
        args.reserveCapacity(plan.bindings.count + 1)
        for binding in plan.bindings {
            let pointer: UnsafeMutableRawPointer
            switch binding.source {
            case .input(let i):
                guard let view = inputs[i] else { throw EmberError(.invalidArgument, "[onednn] input \(i) is missing", at: location) }
                pointer = view.data
            case .output(let i): pointer = outputs[i].data
            case .buffer(let buffer): pointer = buffer.pointer
            }
            args.append((binding.arg, binding.desc, pointer))
        }
        let scratch = plan.primitive.scratchpadBytes > 0 ? context.scratch(bytes: plan.primitive.scratchpadBytes) : nil
        do {
            try plan.primitive.execute(args, scratch: scratch, stream: stream)
        } catch let error as EmberError {
            throw error.located(location)
        }
    }
}
