/// An error from the Postgres store. Never carries SQL text or connection secrets.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable, Hashable { case invalidURL, schemaOutdated, schemaTooNew, database, invariant }
        private let base: Base
        private init(_ base: Base) { self.base = base }
        public static let invalidURL = Code(.invalidURL)
        public static let schemaOutdated = Code(.schemaOutdated)
        public static let schemaTooNew = Code(.schemaTooNew)
        public static let database = Code(.database)
        /// The database holds something the code says cannot happen: a bug, never retried.
        public static let invariant = Code(.invariant)
        public var description: String { base.rawValue }
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
