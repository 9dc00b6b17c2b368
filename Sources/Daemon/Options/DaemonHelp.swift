/// The texts argp prints for `--help`, `--usage` and `--version`, laid out as glibc's
/// argp-help.c does (checked against a C program using glibc argp with the same table):
/// options sorted by first letter (lower case first on a tie, then by long name), the
/// description at column 29, lines at most 78 columns, usage continuation indented 12.
/// After guix-daemon's own text, the help adds the environment variables and defaults
/// (a man page's ENVIRONMENT and FILES), since `cloister-daemon` has no separate man page.
public enum DaemonHelp {
    public static let version = "0.1.0"
    /// argp_program_version.
    public static var versionText: String { "cloister-daemon (Cloister) \(version)\n" }

    static let summary = "cloister-daemon -- perform derivation builds and store accesses"
    static let description = """
        This program is a daemon meant to run in the background.  It serves requests \
        sent over a Unix-domain socket.  It accesses the store, and builds derivations \
        on behalf of its clients.  It is a drop-in replacement for guix-daemon: same \
        options, socket, store and database.
        """

    static let rightMargin = 79
    static let documentationColumn = 29
    static let usageIndent = 12

    /// `--help`, for the program called `name`.
    public static func help(name: String) -> String {
        var out = "Usage: \(name) [OPTION...]\n\(summary)\n\n"
        for option in sortedVisible() {
            out += entry(option)
        }
        out += "\nMandatory or optional arguments to long options are also mandatory or optional\n"
        out += "for any corresponding short options.\n\n"
        out += wrap(description, indent: 0, firstLine: "") + "\n"
        out += "\nEnvironment:\n"
        for (variable, meaning) in DaemonConfiguration.environmentVariables {
            out += entryText(header: "  " + variable, text: meaning)
        }
        let defaults = DaemonConfiguration()
        out += "\nDefaults: store \(defaults.storeDirectory), state \(defaults.stateDirectory), "
            + "socket \(defaults.defaultSocketPath), logs \(defaults.logDirectory); "
            + "--timeout=\(defaults.buildTimeout), --max-silent-time=\(defaults.maxSilentTime), "
            + "--max-jobs=\(defaults.maxBuildJobs), --cores=0, --log-compression=gzip, "
            + "--gc-keep-outputs=no, --gc-keep-derivations=yes, --discover=no, "
            + "--system=\(defaults.system)."
        out = wrapParagraphs(out)
        out += "\n"
        return out
    }

    /// `--usage`.
    public static func usage(name: String) -> String {
        let visible = sortedVisible()
        var items: [String] = []
        let shortFlags = visible.filter { $0.short != nil && $0.argument == .none }.compactMap(\.short)
        if !shortFlags.isEmpty { items.append("[-\(String(shortFlags))]") }
        for option in visible {
            guard let short = option.short else { continue }
            switch option.argument {
            case .none: continue
            case .required(let placeholder): items.append("[-\(short) \(placeholder)]")
            case .optional(let placeholder): items.append("[-\(short)[\(placeholder)]]")
            }
        }
        for option in visible { items.append("[\(longForm(option))]") }
        var line = "Usage: \(name)"
        var out = ""
        for item in items {
            if line.count + 1 + item.count > rightMargin - 1 {
                out += line + "\n"
                line = String(repeating: " ", count: usageIndent) + item
            } else {
                line += " " + item
            }
        }
        return out + line + "\n"
    }

    /// argp's "Try …" line after a usage error (ARGP_HELP_SEE), wrapped like everything argp prints.
    static func seeAlso(name: String) -> String {
        wrap("Try `\(name) --help' or `\(name) --usage' for more information.", indent: 0, firstLine: "") + "\n"
    }

    // MARK: Layout

    static func sortedVisible() -> [DaemonOption] {
        DaemonOption.table.filter { !$0.hidden }.sorted(by: argpOrder)
    }

    /// argp-help.c hol_entry_cmp for entries of one cluster: group, then first letter ignoring
    /// case (short option if any, else the long name's first letter), lower case first, then name.
    static func argpOrder(_ a: DaemonOption, _ b: DaemonOption) -> Bool {
        if a.group != b.group { return a.group < b.group }
        let x = a.short ?? a.long.first ?? " ", y = b.short ?? b.long.first ?? " "
        if x.lowercased() != y.lowercased() { return x.lowercased() < y.lowercased() }
        if x != y { return x > y }
        return a.long.lowercased() < b.long.lowercased()
    }

    static func longForm(_ option: DaemonOption) -> String {
        switch option.argument {
        case .none: return "--\(option.long)"
        case .required(let placeholder): return "--\(option.long)=\(placeholder)"
        case .optional(let placeholder): return "--\(option.long)[=\(placeholder)]"
        }
    }

    static func entry(_ option: DaemonOption) -> String {
        let header = (option.short.map { "  -\($0), " } ?? "      ") + longForm(option)
        return entryText(header: header, text: option.summary)
    }

    /// One option line: the text goes at the documentation column, or three spaces after a
    /// header that reaches up to three columns past it, or on the next line after a longer one.
    static func entryText(header: String, text: String) -> String {
        let column = header.count
        if column > documentationColumn + 3 {
            return header + "\n" + wrap(text, indent: documentationColumn, firstLine: String(repeating: " ", count: documentationColumn)) + "\n"
        }
        let lead = column >= documentationColumn
            ? header + "   "
            : header + String(repeating: " ", count: documentationColumn - column)
        return wrap(text, indent: documentationColumn, firstLine: lead) + "\n"
    }

    /// Greedy word wrap as argp's fmtstream: lines of at most 78 columns, breaking at blanks
    /// (a run of blanks, such as two after a full stop, stays inside a line and is dropped at a
    /// break), continuation lines indented.
    static func wrap(_ text: String, indent: Int, firstLine: String) -> String {
        // (blanks before the word, the word)
        var words: [(Int, Substring)] = []
        var blanks = 0
        var rest = Substring(text)
        while !rest.isEmpty {
            if rest.first == " " {
                blanks += 1
                rest = rest.dropFirst()
                continue
            }
            let word = rest.prefix(while: { $0 != " " })
            words.append((blanks, word))
            blanks = 0
            rest = rest.dropFirst(word.count)
        }
        var lines: [String] = []
        var line = firstLine
        var lineHasWord = false
        for (blanks, word) in words {
            let separator = lineHasWord ? String(repeating: " ", count: blanks) : ""
            if lineHasWord, line.count + separator.count + word.count > rightMargin - 1 {
                lines.append(line)
                line = String(repeating: " ", count: indent) + word
            } else {
                line += separator + word
            }
            lineHasWord = true
        }
        lines.append(line)
        return lines.joined(separator: "\n")
    }

    /// Wraps any over-long line that is plain text (paragraphs written as one line above).
    static func wrapParagraphs(_ text: String) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            line.count > rightMargin - 1 && !line.hasPrefix(" ") ? wrap(String(line), indent: 0, firstLine: "") : String(line)
        }.joined(separator: "\n")
    }
}
