#pragma once
// The status page as a browser sees it, checked against ipvsadm's listing
// of the same table: headless Chromium loads the page (--dump-dom), its
// rows are read from the DOM and compared, in order, with -L -n --stats
// (scaled and --exact) and -L -n (weights, connection counts).
//
// Chromium touches no network: a loopback URL, a fresh --user-data-dir, no
// proxy, every host but 127.0.0.1 resolving to nothing (the rule also
// catches IP literals, hence the exclusion), background services off.

#include "support/cmd.h"
#include "support/priv.h"
#include "support/status_rows.h"

#include <xlb/ipvsadm/format.h>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <sstream>

namespace xlb::test {

// $XLB_CHROMIUM, else chromium on the PATH; empty if there is none.
inline std::string find_chromium() {
    if (const char* env = std::getenv("XLB_CHROMIUM"); env && *env) {
        return access(env, X_OK) == 0 ? std::string(env) : std::string();
    }
    auto r = run_cmd("command -v chromium");
    auto path = r.out.substr(0, r.out.find('\n'));
    return r.code == 0 ? path : std::string();
}

// `prefix` runs Chromium elsewhere, e.g. "nsenter --net=/run/netns/NS".
inline std::string dump_dom(const std::string& chromium, const std::string& url, const std::string& prefix = "") {
    char dir_template[] = "/tmp/xlb-chromium-XXXXXX";
    const char* dir = mkdtemp(dir_template);
    if (!dir) {
        ADD_FAILURE() << "mkdtemp failed";
        return {};
    }
    auto cmd = fmt::format("{}timeout 120 {} --headless --no-sandbox --disable-gpu --user-data-dir={} "
                           "--no-first-run --no-default-browser-check --disable-background-networking "
                           "--disable-component-update --disable-sync --disable-default-apps --disable-extensions "
                           "--no-proxy-server --host-resolver-rules='MAP * ~NOTFOUND, EXCLUDE 127.0.0.1' --dump-dom '{}'",
                           prefix.empty() ? std::string() : prefix + " ", chromium, dir, url);
    auto r = run_cmd(cmd);
    std::filesystem::remove_all(dir);
    EXPECT_EQ(r.code, 0) << cmd << "\n" << r.err;
    if (r.out.find("</html>") == std::string::npos) {
        ADD_FAILURE() << "no DOM from " << cmd << "\n" << r.err;
    }
    return r.out;
}

// One row of an ipvsadm listing: a service ("TCP 10.0.0.1:80", "FWM 7") or
// one of its dests, with the numbers after the name.
struct listing_row {
    std::string service;
    std::string dest; // empty for the service's own row
    std::vector<std::string> fields;
};

// ipvsadm -L -n [--stats|...]: past the title lines, a service line starts
// with its protocol, a dest line with "  ->".
inline std::vector<listing_row> parse_listing(const std::string& text) {
    std::vector<listing_row> rows;
    std::istringstream in(text);
    std::string service;
    for (std::string line; std::getline(in, line);) {
        auto w = split_words(line);
        if (w.empty() || line.rfind("IP Virtual Server", 0) == 0 || line.rfind("Prot ", 0) == 0 ||
            line.rfind("  -> RemoteAddress", 0) == 0) {
            continue;
        }
        listing_row r;
        if (w[0] == "->") {
            r.service = service;
            r.dest = w[1];
            r.fields.assign(w.begin() + 2, w.end());
        } else if (w[0] == "FWM") {
            const bool v6 = w.size() > 2 && w[2] == "IPv6";
            service = fmt::format("FWM {}{}", w[1], v6 ? " IPv6" : "");
            r.service = service;
            r.fields.assign(w.begin() + (v6 ? 3 : 2), w.end());
        } else {
            service = w[0] + " " + w[1];
            r.service = service;
            r.fields.assign(w.begin() + 2, w.end());
        }
        rows.push_back(std::move(r));
    }
    return rows;
}

inline std::string scaled(const std::string& exact_value, bool exact) {
    auto s = ipvsadm::largenum(std::stoull(exact_value), exact);
    return split_words(s).at(0);
}

// ipvsadm's listings of one table: -L -n --stats, with --exact, and -L -n.
struct listings {
    std::string stats;
    std::string stats_exact;
    std::string normal;
};

inline listings format_listings(const dataplane& dp) {
    auto table = *dp.list();
    ipvsadm::list_options o;
    o.numeric = true;
    listings out;
    out.normal = ipvsadm::format_list(table, o, dp.conn_table_size());
    o.format = ipvsadm::list_format::stats;
    out.stats = ipvsadm::format_list(table, o, dp.conn_table_size());
    o.exact = true;
    out.stats_exact = ipvsadm::format_list(table, o, dp.conn_table_size());
    return out;
}

// The page's rows of what is in the table against the listings: the same
// services and dests in the same order, the same counters, weights and
// connection counts.
inline void expect_page_matches(const std::string& dom, const listings& lists) {
    std::vector<html_row> services;
    std::vector<html_row> reals;
    for (auto& r : html_rows(dom)) {
        auto cls = r.attr("class");
        if (cls.rfind("service", 0) == 0 && r.attr("data-in-table") == "1") {
            services.push_back(std::move(r));
        } else if (cls.rfind("real ", 0) == 0 && r.attr("data-in-table") == "1") {
            reals.push_back(std::move(r));
        }
    }
    // --stats, scaled as ipvsadm prints it and exact: every row, in order.
    const char* stats_cols[] = {"conns", "inpkts", "outpkts", "inbytes", "outbytes"};
    for (bool exact : {false, true}) {
        auto listing = parse_listing(exact ? lists.stats_exact : lists.stats);
        size_t si = 0;
        size_t ri = 0;
        for (const auto& l : listing) {
            SCOPED_TRACE(fmt::format("exact={} {} {}", exact, l.service, l.dest));
            ASSERT_EQ(l.fields.size(), 5u);
            const html_row* row = nullptr;
            if (l.dest.empty()) {
                ASSERT_LT(si, services.size());
                row = &services[si++];
                EXPECT_EQ(row->attr("data-service"), l.service);
            } else {
                ASSERT_LT(ri, reals.size());
                row = &reals[ri++];
                EXPECT_EQ(row->attr("data-service"), l.service);
                EXPECT_EQ(row->attr("data-real"), l.dest);
                ASSERT_NE(row->cell("addr"), nullptr);
                EXPECT_EQ(row->cell("addr")->text, l.dest);
            }
            for (size_t i = 0; i < 5; ++i) {
                auto* c = row->cell(stats_cols[i]);
                ASSERT_NE(c, nullptr) << stats_cols[i];
                EXPECT_EQ(scaled(c->value, exact), l.fields[i]) << stats_cols[i];
            }
        }
        EXPECT_EQ(si, services.size()) << "the page shows every service in the table, and no other";
        EXPECT_EQ(ri, reals.size()) << "the page shows every dest in the table, and no other";
    }

    // -L -n: Forward Weight ActiveConn InActConn of each dest.
    size_t ri = 0;
    for (const auto& l : parse_listing(lists.normal)) {
        if (l.dest.empty()) {
            continue;
        }
        SCOPED_TRACE(l.dest);
        ASSERT_LT(ri, reals.size());
        const auto& row = reals[ri++];
        ASSERT_EQ(l.fields.size(), 4u);
        EXPECT_EQ(row.attr("data-real"), l.dest);
        EXPECT_EQ(row.cell("weight")->value, l.fields[1]);
        EXPECT_EQ(row.cell("active")->value, l.fields[2]);
        EXPECT_EQ(row.cell("inactive")->value, l.fields[3]);
    }
    EXPECT_EQ(ri, reals.size());
}

#define XLB_REQUIRE_CHROMIUM(var)                                                                   \
    auto var = ::xlb::test::find_chromium();                                                                    \
    if (var.empty()) {                                                                             \
        if (::xlb::test::require_priv()) {                                                                      \
            FAIL() << "XLB_REQUIRE_PRIV=1 but chromium is not installed (scripts/bootstrap installs it)"; \
        }                                                                                          \
        GTEST_SKIP() << "chromium is not installed (scripts/bootstrap installs it)";               \
    }

} // namespace xlb::test
