import Testing
import StoreFormats

/// PathText: Nix's `canonPath` (no symlinks) and `absPath`, which name gcroots/auto links.
@Suite(.tags(.small)) struct PathTextTests {
    @Test(arguments: [("/", "/"), ("//", "/"), ("/a/b/", "/a/b"), ("/a/./b", "/a/b"), ("/a/../../b", "/b"), ("/a//b", "/a/b")])
    func canonical(_ input: String, _ expected: String) {
        #expect(PathText.canonical(input) == expected)
    }

    @Test(arguments: [("result", "/", "/result"), ("x/../y/", "/home/u", "/home/u/y"), ("/abs//r", "/home/u", "/abs/r"),
                      ("", "/home/u", "/home/u"), ("../..", "/a", "/")])
    func absolute(_ input: String, _ directory: String, _ expected: String) {
        #expect(PathText.absolute(input, in: directory) == expected)
    }
}
