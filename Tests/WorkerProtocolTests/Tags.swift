import Testing

extension Tag {
    /// Pure and fast.
    @Tag static var small: Self
    /// Real kernel, temp dirs, real SQLite.
    @Tag static var medium: Self
    /// Processes and real clients.
    @Tag static var large: Self
}
