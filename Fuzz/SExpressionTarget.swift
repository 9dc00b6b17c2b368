import StoreFormats

/// s-expression reading (formats.md §5.4, Guix keys and signatures): any bytes. Must never
/// trap; a parsed expression's canonical and display forms parse back to it; key parsing on it
/// must never trap.
enum SExpressionTarget {
    static func run(_ bytes: UnsafeRawBufferPointer) {
        guard let expression = try? SExpression(parsing: Array(bytes)) else { return }
        let canonical = expression.canonical
        precondition((try? SExpression(parsing: canonical)) == expression, "canonical form does not round-trip")
        precondition((try? SExpression(parsing: expression.description)) == expression, "display form does not round-trip")
        _ = try? GuixPublicKey(expression)
        _ = try? GuixSignature(host: "fuzz", sexpBytes: canonical)
    }
}
