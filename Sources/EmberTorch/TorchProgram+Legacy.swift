import EmberIR
import Foundation

/// The archive layout of torch 2.6 and 2.7: `serialized_exported_program.json` (the same schema
/// as the pt2 layout's `models/model.json`) beside `serialized_state_dict.pt` and
/// `serialized_constants.pt`, each a `torch.save` archive of a dictionary from names to tensors.
extension TorchProgram {
    static let legacyProgramPath = "serialized_exported_program.json"
    /// The nested `torch.save` archives: the parameters and buffers, then the tensor constants.
    static let legacyWeightArchives = ["serialized_state_dict.pt", "serialized_constants.pt"]

    /// Every tensor the nested archives hold, by name. Only the pickles' descriptions are read
    /// here; values that are not tensors are refused.
    func pickledWeights() throws -> [String: TorchStoredTensor] {
        var tensors: [String: TorchStoredTensor] = [:]
        for path in Self.legacyWeightArchives where archive.contains(path) {
            // An empty entry is how torch writes "nothing to store".
            guard try archive.size(of: path) > 0 else { continue }
            let name = "\(origin)/\(path)"
            let saved = try TorchArchive(bytes: try archive.read(path), origin: name)
            if saved.contains("byteorder") {
                let order = String(decoding: try saved.read("byteorder"), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                guard order == "little" else {
                    throw EmberError(.unsupported, "'\(name)' stores its tensors \(order)-endian; Ember reads little-endian archives")
                }
            }
            guard saved.contains("data.pkl") else {
                throw EmberError(.invalidModel, "'\(name)' is not a torch.save archive: it has no data.pkl")
            }
            let contents = try TorchPickle.load([UInt8](try saved.read("data.pkl")), origin: "\(name)/data.pkl")
            guard case .dict(let pairs) = contents else {
                throw EmberError(.invalidModel, "'\(name)' holds something other than a dictionary of tensors")
            }
            for (key, value) in pairs {
                guard case .string(let fqn) = key, case .tensor(let reference) = value else {
                    throw EmberError(.unsupported, "'\(name)' holds an entry that is not a named tensor; Ember reads plain tensors only")
                }
                tensors[fqn] = TorchStoredTensor(
                    dtype: reference.storage.dtype, shape: reference.sizes, strides: reference.strides,
                    offset: reference.offset, archive: saved, path: "data/\(reference.storage.key)")
            }
        }
        return tensors
    }
}
