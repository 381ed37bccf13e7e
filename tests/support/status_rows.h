#pragma once
// Reads the status page's rows back out of HTML (the page as served, or
// as headless Chromium dumps its DOM): every <tr> with its attributes and
// its cells' class, data-value and text. A scanner for markup the page
// itself defines (status_page.h), not a general HTML parser.

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace xlb::test {

struct html_cell {
    std::string cls;
    std::string value; // data-value
    std::string text;  // the text inside, tags dropped
};

struct html_row {
    std::map<std::string, std::string> attrs;
    std::vector<html_cell> cells;

    [[nodiscard]] const html_cell* cell(std::string_view cls) const {
        for (const auto& c : cells) {
            if (c.cls == cls) {
                return &c;
            }
        }
        return nullptr;
    }
    [[nodiscard]] std::string attr(const std::string& name) const {
        auto it = attrs.find(name);
        return it == attrs.end() ? std::string() : it->second;
    }
};

inline std::string html_unescape(std::string_view s) {
    static const std::pair<std::string_view, std::string_view> refs[] = {
        {"&amp;", "&"}, {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&#39;", "'"}, {"&#x27;", "'"},
        {"&nbsp;", "\xc2\xa0"},
    };
    std::string out;
    for (size_t i = 0; i < s.size();) {
        bool done = false;
        if (s[i] == '&') {
            for (const auto& [ref, ch] : refs) {
                if (s.substr(i, ref.size()) == ref) {
                    out += ch;
                    i += ref.size();
                    done = true;
                    break;
                }
            }
        }
        if (!done) {
            out += s[i++];
        }
    }
    return out;
}

// The attributes of the tag starting at `open` ('<'), and where it ends.
inline std::map<std::string, std::string> html_attrs(std::string_view html, size_t open, size_t& end) {
    std::map<std::string, std::string> attrs;
    size_t i = open + 1;
    while (i < html.size() && html[i] != ' ' && html[i] != '>') {
        ++i;
    }
    while (i < html.size() && html[i] != '>') {
        while (i < html.size() && html[i] == ' ') {
            ++i;
        }
        size_t name_start = i;
        while (i < html.size() && html[i] != '=' && html[i] != ' ' && html[i] != '>') {
            ++i;
        }
        std::string name(html.substr(name_start, i - name_start));
        std::string value;
        if (i < html.size() && html[i] == '=') {
            ++i;
            char q = html[i];
            size_t close = html.find(q, i + 1);
            value = html_unescape(html.substr(i + 1, close - i - 1));
            i = close + 1;
        }
        if (!name.empty()) {
            attrs[name] = value;
        }
    }
    end = i;
    return attrs;
}

inline std::string html_text(std::string_view inner) {
    std::string out;
    bool in_tag = false;
    for (char c : inner) {
        if (c == '<') {
            in_tag = true;
        } else if (c == '>') {
            in_tag = false;
        } else if (!in_tag) {
            out += c;
        }
    }
    return html_unescape(out);
}

inline std::vector<html_row> html_rows(std::string_view html) {
    std::vector<html_row> rows;
    for (size_t pos = html.find("<tr"); pos != std::string_view::npos; pos = html.find("<tr", pos + 3)) {
        if (html[pos + 3] != ' ' && html[pos + 3] != '>') {
            continue;
        }
        size_t end = 0;
        html_row row;
        row.attrs = html_attrs(html, pos, end);
        size_t row_end = html.find("</tr>", end);
        auto body = html.substr(end, row_end - end);
        for (size_t td = body.find("<td"); td != std::string_view::npos; td = body.find("<td", td + 3)) {
            size_t tag_end = 0;
            auto a = html_attrs(body, td, tag_end);
            size_t close = body.find("</td>", tag_end);
            html_cell c;
            c.cls = a["class"];
            c.value = a["data-value"];
            c.text = html_text(body.substr(tag_end + 1, close - tag_end - 1));
            row.cells.push_back(std::move(c));
            td = close;
        }
        rows.push_back(std::move(row));
        pos = row_end;
    }
    return rows;
}

} // namespace xlb::test
