import Foundation

/// The one error type of Ember: a code, a message, where it came from, and the cause.
///
/// Messages read `[op] expected X, received Y`; the location names the model node
/// (its name and op type) or the file and offset that the problem was found in.
///
///     throw EmberError(.shapeMismatch, "[conv] input has rank 3, expected 4", at: "node 'Conv_3' (Conv)")
public struct EmberError: Error, CustomStringConvertible, Sendable {
    /// What kind of problem this is; stable, so scripts and tests can match on it.
    public enum Code: String, Sendable {
        case invalidArgument = "invalid-argument"
        case invalidModel = "invalid-model"
        case unsupported = "unsupported"
        case shapeMismatch = "shape-mismatch"
        case typeMismatch = "type-mismatch"
        case invalidIR = "invalid-ir"
        case io = "io"
        case internalError = "internal"
    }

    public var code: Code
    public var message: String
    /// Where the problem is: a node, a file, a line of IR text.
    public var location: String?
    /// The underlying error, when this one wraps another.
    public var cause: (any Error & Sendable)?

    public init(_ code: Code, _ message: String, at location: String? = nil, cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.location = location
        self.cause = cause
    }

    public var description: String {
        var text = location.map { "\($0): \(message)" } ?? message
        if let cause { text += " (caused by: \(cause))" }
        return text
    }

    /// The same error with a location added in front of any it already has.
    public func located(_ outer: String) -> EmberError {
        var copy = self
        copy.location = location.map { "\(outer): \($0)" } ?? outer
        return copy
    }
}

/// Foundation's `localizedDescription` (what `"\(error.localizedDescription)"` and bridged
/// `NSError`s print) is the message itself, never the type's name and code.
extension EmberError: LocalizedError {
    public var errorDescription: String? { description }
}

extension EmberError {
    /// Shorthand for the error every op raises on malformed input: `[op] message`.
    public static func op(_ op: String, _ message: String, code: Code = .invalidArgument) -> EmberError {
        EmberError(code, "[\(op)] \(message)")
    }
}
