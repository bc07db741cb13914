import EmberIR
import Foundation

/// A parameter, buffer or constant as an archive stores it: a strided view of the raw
/// little-endian bytes of one archive entry. The pt2 layout describes it in JSON
/// (`model_weights_config.json`), the older layout in a pickle (`serialized_state_dict.pt`).
struct TorchStoredTensor {
    var dtype: DType
    var shape: [Int]
    var strides: [Int]
    var offset: Int
    /// The archive holding the storage, and the entry's path in it.
    var archive: TorchArchive
    var path: String

    /// The most bytes a view may spell out beyond the storage it reads: a view whose zero or
    /// overlapping strides repeat elements (a broadcast buffer) is materialized, but only this far
    /// past the storage's own size, so a few stored bytes cannot ask for gigabytes.
    static let maximumRepeatedBytes = 64 << 20

    /// The tensor. Sizes, strides, offset and the entry's size are checked against each other
    /// with checked arithmetic before anything is allocated or read, and the entry is inflated
    /// only as far as the view reads.
    func load(what: String) throws -> Tensor {
        guard strides.count == shape.count, offset >= 0, shape.allSatisfy({ $0 >= 0 }), strides.allSatisfy({ $0 >= 0 }) else {
            throw EmberError(.invalidModel, "\(what) has sizes \(shape), strides \(strides) and offset \(offset), which do not describe a tensor")
        }
        guard let count = Tensor.elementCount(shape), case let (tensorBytes, false) = count.multipliedReportingOverflow(by: dtype.byteSize)
        else {
            throw EmberError(.invalidModel, "\(what) has invalid shape \(shape)")
        }
        let storedBytes = try archive.size(of: path)
        let available = storedBytes / dtype.byteSize
        // The last element the view reads; every index must lie inside the stored bytes.
        var last = offset
        for (size, stride) in zip(shape, strides) where size > 0 {
            let (step, o1) = (size - 1).multipliedReportingOverflow(by: stride)
            let (sum, o2) = last.addingReportingOverflow(step)
            guard !o1, !o2 else { throw EmberError(.invalidModel, "\(what) has strides that overflow") }
            last = sum
        }
        guard count == 0 || last < available else {
            throw EmberError(
                .invalidModel,
                "\(what) of \(dtype)\(shape) reads element \(last) but '\(archive.root)\(path)' holds \(available): the archive is damaged")
        }
        guard tensorBytes <= storedBytes || tensorBytes - storedBytes <= Self.maximumRepeatedBytes else {
            throw EmberError(
                .invalidModel,
                "\(what) of \(dtype)\(shape) (\(tensorBytes) bytes) repeats the \(storedBytes) bytes stored in '\(archive.root)\(path)' through strides \(strides); refusing to spell out more than \(Self.maximumRepeatedBytes >> 20) MiB beyond its storage")
        }
        if count == 0 { return try Tensor(dtype, shape: shape, bytes: Data()) }
        // Only the elements up to the last one read are inflated.
        let needed = (last + 1) * dtype.byteSize
        let bytes = try archive.read(path, limit: needed)
        guard bytes.count >= needed else {
            throw EmberError(.invalidModel, "'\(archive.root)\(path)' holds \(bytes.count) bytes, \(what) needs \(needed)")
        }
        let contiguous = Tensor.strides(of: shape)
        if offset == 0, zip(shape, zip(strides, contiguous)).allSatisfy({ $0.0 <= 1 || $0.1.0 == $0.1.1 }) {
            return try Tensor(dtype, shape: shape, bytes: bytes.prefix(count * dtype.byteSize))
        }
        let storage = try Tensor(dtype, shape: [last + 1], bytes: bytes.prefix(needed))
        var indices = [Int](repeating: offset, count: count)
        var position = [Int](repeating: 0, count: shape.count)
        for i in 0..<count {
            var index = offset
            for (p, s) in zip(position, strides) { index += p * s }
            indices[i] = index
            var axis = shape.count - 1
            while axis >= 0 {
                position[axis] += 1
                if position[axis] < shape[axis] { break }
                position[axis] = 0
                axis -= 1
            }
        }
        return storage.gathering(indices, shape: shape)
    }
}
