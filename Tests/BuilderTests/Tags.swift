import Testing

extension Tag {
    @Tag static var small: Self
    @Tag static var medium: Self
    @Tag static var large: Self
}
