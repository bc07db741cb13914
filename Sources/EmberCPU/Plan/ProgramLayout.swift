import EmberIR
import EmberOps

/// A value the program holds during a run: a graph value, or a graph value's copy in another
/// layout that the planner added.
struct Slot: Sendable {
    enum Source: Sendable {
        /// The graph input at this position: caller memory, read only.
        case input(Int)
        /// The constant at this index in the program's constant table.
        case constant(Int)
        /// Written by a step.
        case computed
    }

    var name: String
    var type: TensorType
    var layout: CPULayout
    var source: Source
}

/// One kernel call: a graph node, or a layout conversion the planner inserted.
struct Step: Sendable {
    var kernel: any CPUKernel
    /// The node's op, for shape inference; nil for a layout conversion (its shape is its input's).
    var op: (any Operator)?
    var inputs: [Int?]
    var outputs: [Int]
    /// For each output, the input position whose buffer it may be written into.
    var inPlace: [Int?]
    var location: String
    /// The provider that made the kernel, for reports.
    var provider: String
}

/// Chooses every value's layout and lays out the steps that run the graph, with conversions where a
/// consumer cannot read the layout a value was written in.
///
/// A value takes the layout its producer prefers when at least one consumer reads it that way; the
/// others, and the graph's outputs, read a plain copy made right after the producer.
struct ProgramLayout {
    var slots: [Slot]
    var steps: [Step]
    /// Per graph output, the slot holding it in plain layout.
    var outputSlots: [Int]
    /// Constants every reader's kernel keeps a copy of its own, with one such reader (step and
    /// input): the graph lets them go, and that kernel gives them back.
    var ownedConstants: [ValueID: (step: Int, input: Int)] = [:]

    /// Lays out `graph`'s steps, building each kernel. A constant is removed from `graph` as soon
    /// as every kernel reading it holds a copy of its own, so its memory is not held twice. Held
    /// constants are read from `packed`, their packed copies, which every reader must take.
    init(
        _ graph: inout Graph, partition: Partition, providers: [any CPUKernelProvider], constantIndices: [ValueID: Int],
        packed: [ValueID: PackedWeights] = [:]
    ) throws {
        let provider = { (node: Int) in providers[partition.assignments[node].provider] }
        var plainNodes = graph.nodes.map { node in
            var kernelNode = KernelNode(node, in: graph)
            kernelNode.packedWeights = node.inputs.map { $0.flatMap { packed[$0] } }
            return kernelNode
        }

        var consumers = [[(node: Int, input: Int)]](repeating: [], count: graph.values.count)
        for (n, node) in graph.nodes.enumerated() {
            for case let (position, id?) in node.inputs.enumerated() { consumers[id.index].append((n, position)) }
        }

        // Each value's layout: the producer's preference when some consumer reads it. The producer
        // is asked knowing the layouts it will read its inputs in.
        var layouts = [CPULayout](repeating: .plain, count: graph.values.count)
        for (n, node) in graph.nodes.enumerated() {
            var reading = plainNodes[n]
            for case let (position, id?) in node.inputs.enumerated()
            where provider(n).accepts(plainNodes[n], input: position, layout: layouts[id.index]) {
                reading.inputLayouts[position] = layouts[id.index]
            }
            for (k, id) in node.outputs.enumerated() {
                let preferred = provider(n).preferredLayout(reading, output: k)
                guard preferred != .plain, let rank = graph.type(of: id).rank, preferred.allows(rank: rank) else { continue }
                let readers = consumers[id.index].filter { provider($0.node).accepts(plainNodes[$0.node], input: $0.input, layout: preferred) }
                if !readers.isEmpty { layouts[id.index] = preferred }
            }
        }

        slots = graph.values.enumerated().map { index, value in
            Slot(name: value.name, type: value.type, layout: layouts[index], source: .computed)
        }
        for (position, id) in graph.inputs.enumerated() { slots[id.index].source = .input(position) }
        for (id, index) in constantIndices { slots[id.index].source = .constant(index) }

        // Readers of each constant not built yet, and constants some kernel reads from the graph.
        var unbuiltReaders = [Int](repeating: 0, count: graph.values.count)
        for id in Array(graph.constants.keys) + graph.heldConstants { unbuiltReaders[id.index] = consumers[id.index].count }
        var readFromGraph = Set(graph.outputs)

        // Plain copies of blocked values, made right after their producer.
        var plainCopy: [Int: Int] = [:]
        steps = []
        for (n, node) in graph.nodes.enumerated() {
            let chosen = provider(n)
            var kernelNode = plainNodes[n]
            var inputs: [Int?] = []
            for (position, id) in node.inputs.enumerated() {
                guard let id else { inputs.append(nil); continue }
                let layout = layouts[id.index]
                if layout == .plain || chosen.accepts(plainNodes[n], input: position, layout: layout) {
                    kernelNode.inputLayouts[position] = layout
                    inputs.append(id.index)
                } else {
                    inputs.append(plainCopy[id.index])
                }
            }
            kernelNode.outputLayouts = node.outputs.map { layouts[$0.index] }
            let (kernel, maker) = try Self.build(kernelNode, node: node, providers: providers[partition.assignments[n].provider...])
            steps.append(Step(
                kernel: kernel, op: node.op, inputs: inputs, outputs: node.outputs.map(\.index),
                inPlace: node.outputs.indices.map { maker.inPlaceInput(kernelNode, output: $0) },
                location: node.location, provider: maker.name))
            let owned = Set(kernel.ownedConstants)
            for case let (position, id?) in node.inputs.enumerated() where graph.constants[id] != nil || graph.heldConstants.contains(id) {
                if owned.contains(position) {
                    ownedConstants[id] = ownedConstants[id] ?? (steps.count - 1, position)
                } else if graph.heldConstants.contains(id) {
                    throw EmberError(
                        .invalidModel, "input \(position) is a weight the engine holds packed, which this node's kernel does not read",
                        at: node.location)
                } else {
                    readFromGraph.insert(id)
                }
                unbuiltReaders[id.index] -= 1
                guard unbuiltReaders[id.index] == 0 else { continue }
                if readFromGraph.contains(id) {
                    ownedConstants[id] = nil
                } else {
                    graph.constants[id] = nil
                    for reader in consumers[id.index] { plainNodes[reader.node].constants[reader.input] = nil }
                }
            }

            for id in node.outputs where layouts[id.index] != .plain {
                let needsPlain = graph.outputs.contains(id)
                    || consumers[id.index].contains { !provider($0.node).accepts(plainNodes[$0.node], input: $0.input, layout: layouts[id.index]) }
                guard needsPlain else { continue }
                let copy = slots.count
                slots.append(Slot(name: slots[id.index].name + ".plain", type: slots[id.index].type, layout: .plain, source: .computed))
                plainCopy[id.index] = copy
                let type = slots[id.index].type, layout = layouts[id.index]
                let conversion = chosen.conversion(type: type, from: layout, to: .plain) ?? LayoutConversion(from: layout, to: .plain)
                steps.append(Step(
                    kernel: conversion, op: nil, inputs: [id.index], outputs: [copy],
                    inPlace: [nil], location: "layout conversion of '\(slots[id.index].name)'", provider: "convert"))
            }
        }
        outputSlots = graph.outputs.map { plainCopy[$0.index] ?? $0.index }
    }

    /// The kernel for a node from the first of `providers` (the partition's choice first) that builds
    /// one. A later provider is tried only where it supports the node, reads its inputs' layouts and
    /// every output is plain, so the planned layouts still hold; the first failure is the one reported.
    private static func build(
        _ kernelNode: KernelNode, node: Node, providers: ArraySlice<any CPUKernelProvider>
    ) throws -> (any CPUKernel, any CPUKernelProvider) {
        var firstError: EmberError?
        for (rank, provider) in providers.enumerated() {
            if rank > 0 {
                let fits = provider.support(kernelNode).isSupported
                    && kernelNode.outputLayouts.allSatisfy { $0 == .plain }
                    && kernelNode.inputLayouts.indices.allSatisfy { i in
                        kernelNode.inputLayouts[i] == .plain || provider.accepts(kernelNode, input: i, layout: kernelNode.inputLayouts[i])
                    }
                guard fits else { continue }
            }
            do {
                return (try provider.makeKernel(kernelNode), provider)
            } catch let error as EmberError {
                firstError = firstError ?? error
            }
        }
        let error = firstError ?? EmberError(.internalError, "no kernel provider built a kernel")
        throw error.location == nil ? error.located(node.location) : error
    }
}
