#include "lexer.h"

#include <fmt/format.h>

#include <glob.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <memory>

namespace xlb::keepalived {

std::string source_pos::to_string() const {
    return fmt::format("{}:{}:{}", file, line, column);
}

namespace detail {

error syntax_error(const source_pos& at, std::string_view message) {
    return error{EINVAL, fmt::format("{}: {}", at.to_string(), message)};
}

namespace {

// keepalived nests includes without a limit; a loop would never end, so
// xlb stops at this depth.
constexpr int max_include_depth = 32;

bool is_blank(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

bool is_include_keyword(const token& t) {
    if (t.kind != token_kind::word || t.quoted) {
        return false;
    }
    // check_include(): include, and includer/m/w/b/a (stricter error
    // reporting in keepalived, the same reading here).
    return t.text == "include" || t.text == "includer" || t.text == "includem" ||
           t.text == "includew" || t.text == "includeb" || t.text == "includea";
}

std::string dir_of(const std::string& path, const std::string& inherited) {
    auto slash = path.rfind('/');
    if (slash == std::string::npos) {
        return inherited;
    }
    return slash == 0 ? std::string("/") : path.substr(0, slash);
}

// One physical line split into tokens.
struct line_tokens {
    std::vector<token> tokens;
    bool continues = false; // ended with a backslash
};

class lexer {
public:
    result<void> lex_text(std::string_view text, const std::string& name, const std::string& dir,
                          int depth);
    result<void> lex_path(const std::string& path, const std::string& inherited_dir, int depth);
    lexed take() { return std::move(_out); }

private:
    result<line_tokens> split_line(std::string_view line, const std::string& name, uint32_t line_no);
    result<void> include(const std::vector<token>& words, const std::string& dir, int depth);

    lexed _out;
};

// A word runs to a blank, a brace, a quote or a comment; `\#` and `\!`
// inside it stand for the characters.
size_t read_word(std::string_view line, size_t i, std::string& text) {
    while (i < line.size()) {
        char c = line[i];
        if (is_blank(c) || c == '{' || c == '}' || c == '"' || c == '#' || c == '!') {
            break;
        }
        if (c == '\\') {
            if (i + 1 < line.size() && (line[i + 1] == '#' || line[i + 1] == '!')) {
                text += line[i + 1];
                i += 2;
                continue;
            }
            if (i + 1 == line.size()) {
                break; // a continuation, the caller sees it
            }
        }
        text += c;
        ++i;
    }
    return i;
}

result<line_tokens> lexer::split_line(std::string_view line, const std::string& name,
                                      uint32_t line_no) {
    line_tokens out;
    size_t i = 0;
    while (i < line.size()) {
        char c = line[i];
        source_pos at{name, line_no, static_cast<uint32_t>(i + 1)};
        if (is_blank(c)) {
            ++i;
        } else if (c == '#' || c == '!') {
            break;
        } else if (c == '{' || c == '}') {
            out.tokens.push_back({c == '{' ? token_kind::open : token_kind::close, std::string(1, c),
                                  false, at});
            ++i;
        } else if (c == '"') {
            auto end = line.find('"', i + 1);
            if (end == std::string_view::npos) {
                return syntax_error(at, "unterminated quoted string");
            }
            out.tokens.push_back(
                {token_kind::word, std::string(line.substr(i + 1, end - i - 1)), true, at});
            i = end + 1;
        } else if (c == '\\' && i + 1 == line.size()) {
            out.continues = true;
            break;
        } else {
            std::string text;
            i = read_word(line, i, text);
            if (!text.empty()) {
                out.tokens.push_back({token_kind::word, std::move(text), false, at});
            } else {
                ++i; // a lone backslash
            }
        }
    }
    return out;
}

result<void> lexer::lex_text(std::string_view text, const std::string& name,
                             const std::string& dir, int depth) {
    uint32_t line_no = 0;
    bool continuing = false;
    size_t pos = 0;
    while (pos <= text.size()) {
        auto nl = text.find('\n', pos);
        auto line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
        ++line_no;
        auto split = split_line(line, name, line_no);
        if (!split) {
            return split.error();
        }
        auto& toks = split->tokens;
        if (!continuing && !toks.empty() && is_include_keyword(toks.front())) {
            if (auto r = include(toks, dir, depth); !r) {
                return r;
            }
        } else {
            for (auto& t : toks) {
                _out.tokens.push_back(std::move(t));
            }
            if (!split->continues) {
                _out.tokens.push_back({token_kind::end_of_line, {}, false,
                                       {name, line_no, static_cast<uint32_t>(line.size() + 1)}});
            }
        }
        continuing = split->continues;
        if (nl == std::string_view::npos) {
            break;
        }
        pos = nl + 1;
    }
    return {};
}

result<void> lexer::include(const std::vector<token>& words, const std::string& dir, int depth) {
    const source_pos& at = words.front().where;
    if (words.size() < 2) {
        return syntax_error(at, "include needs a file name or pattern");
    }
    if (depth >= max_include_depth) {
        return syntax_error(at, fmt::format("include nested more than {} deep (does a file include itself?)",
                                            max_include_depth));
    }
    // keepalived passes the rest of the line to glob(), spaces and all.
    std::string pattern = words[1].text;
    for (size_t i = 2; i < words.size(); ++i) {
        pattern += ' ';
        pattern += words[i].text;
    }
    std::string full = pattern.front() == '/' || dir.empty() ? pattern : dir + "/" + pattern;
    glob_t g{};
    int rc = ::glob(full.c_str(), GLOB_MARK | GLOB_BRACE, nullptr, &g);
    std::unique_ptr<glob_t, void (*)(glob_t*)> owner(&g, ::globfree);
    if (rc == GLOB_NOMATCH) {
        _out.notices.push_back({at, fmt::format("include {}: no file matches", pattern)});
        return {};
    }
    if (rc != 0) {
        return syntax_error(at, fmt::format("include {}: glob failed ({})", pattern,
                                            rc == GLOB_NOSPACE ? "out of memory" : "read error"));
    }
    for (size_t i = 0; i < g.gl_pathc; ++i) {
        // check_glob_file(): a match that is not a regular, non-executable
        // file (a directory, a script) is skipped with a warning.
        struct stat sb {};
        if (::stat(g.gl_pathv[i], &sb) != 0 || !S_ISREG(sb.st_mode) ||
            (sb.st_mode & (S_IXUSR | S_IXGRP | S_IXOTH)) != 0) {
            _out.notices.push_back(
                {at, fmt::format("include {}: {} is not a regular non-executable file: skipped", pattern,
                                 g.gl_pathv[i])});
            continue;
        }
        if (auto r = lex_path(g.gl_pathv[i], dir, depth + 1); !r) {
            return r;
        }
    }
    return {};
}

result<void> lexer::lex_path(const std::string& path, const std::string& inherited_dir, int depth) {
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "re"), std::fclose);
    if (!f) {
        return errno_error("read keepalived config {}", path);
    }
    std::string text;
    char buf[8192];
    size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof buf, f.get())) > 0) {
        text.append(buf, n);
    }
    if (std::ferror(f.get())) {
        return errno_error("read keepalived config {}", path);
    }
    _out.files.push_back(path);
    return lex_text(text, path, dir_of(path, inherited_dir), depth);
}

} // namespace

result<lexed> lex_file(const std::string& path) {
    lexer l;
    if (auto r = l.lex_path(path, "", 0); !r) {
        return r.error();
    }
    return l.take();
}

result<lexed> lex_string(std::string_view text, const std::string& name) {
    lexer l;
    if (auto r = l.lex_text(text, name, "", 0); !r) {
        return r.error();
    }
    return l.take();
}

} // namespace detail
} // namespace xlb::keepalived
