import EmberIR
import Foundation

/// Where a program's parameters, buffers and tensor constants are stored, by their fully
/// qualified names (`conv1.weight`).
enum TorchWeightStore {
    /// The pt2 layout: JSON configs naming one raw entry per tensor under `data/weights` and
    /// `data/constants`.
    case configs(weights: [String: TorchSchema.PayloadMeta], constants: [String: TorchSchema.PayloadMeta])
    /// The layout of torch 2.7 and older, read from its pickled dictionaries.
    case pickled([String: TorchStoredTensor])
}

extension TorchProgram {
    /// Reads the store of the archive's layout. Nothing but descriptions is read here: a tensor's
    /// bytes are read when it is loaded.
    func weightStore() throws -> TorchWeightStore {
        switch layout {
        case .pt2:
            return .configs(
                weights: try payloadConfig("data/weights/\(modelName)_weights_config.json"),
                constants: try payloadConfig("data/constants/\(modelName)_constants_config.json"))
        case .legacy:
            return .pickled(try pickledWeights())
        }
    }

    func payloadConfig(_ path: String) throws -> [String: TorchSchema.PayloadMeta] {
        guard archive.contains(path) else { return [:] }
        return try archive.json(TorchSchema.PayloadConfig.self, path).config
    }

    /// Loads a parameter, buffer or tensor constant.
    func loadTensor(_ fqn: String, from store: TorchWeightStore) throws -> Tensor {
        let what = "weight '\(fqn)'"
        switch store {
        case .configs(let weights, let constants):
            return try storedTensor(fqn, weights: weights, constants: constants).load(what: what)
        case .pickled(let tensors):
            guard let stored = tensors[fqn] else {
                throw EmberError(.invalidModel, "'\(origin)' has no stored value for '\(fqn)'")
            }
            return try stored.load(what: what)
        }
    }

    /// Where the pt2 layout keeps a tensor, from its entry in the weights or constants config.
    func storedTensor(
        _ fqn: String, weights: [String: TorchSchema.PayloadMeta], constants: [String: TorchSchema.PayloadMeta]
    ) throws -> TorchStoredTensor {
        let folder: String
        let meta: TorchSchema.PayloadMeta
        if let m = weights[fqn] {
            (folder, meta) = ("data/weights/", m)
        } else if let m = constants[fqn] {
            (folder, meta) = ("data/constants/", m)
        } else {
            throw EmberError(.invalidModel, "'\(origin)' has no stored value for '\(fqn)'")
        }
        guard meta.use_pickle != true else {
            throw EmberError(
                .unsupported, "'\(origin)' stores '\(fqn)' as a pickled tensor subclass; Ember reads plain tensors only")
        }
        guard let tensorMeta = meta.tensor_meta else {
            throw EmberError(.invalidModel, "'\(origin)' gives no tensor metadata for '\(fqn)'")
        }
        let what = "weight '\(fqn)'"
        try TorchArchive.checkPath(meta.path_name, origin: origin)
        guard !meta.path_name.contains("/") else {
            throw EmberError(.invalidModel, "'\(origin)' stores \(what) at '\(meta.path_name)', outside its folder")
        }
        let type = try Self.type(tensorMeta, what: what)
        guard let shape = type.knownShape else {
            throw EmberError(.invalidModel, "\(what) has symbolic sizes \(type)")
        }
        let strides = try tensorMeta.strides.map { s -> Int in
            guard case .int(let v) = s else { throw EmberError(.invalidModel, "\(what) has a symbolic stride") }
            return v
        }
        var offset = 0
        if case .int(let v)? = tensorMeta.storage_offset { offset = v }
        return TorchStoredTensor(
            dtype: type.dtype, shape: shape, strides: strides, offset: offset, archive: archive, path: folder + meta.path_name)
    }
}
