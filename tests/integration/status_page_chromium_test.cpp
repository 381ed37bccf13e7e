// The status page as a browser sees it: the page served over loopback by
// the HTTP server, loaded by headless Chromium (--dump-dom), its rows read
// from the DOM Chromium built and checked against ipvsadm's listing of the
// same table (-L -n --stats, scaled and --exact, and -L -n for weights and
// connection counts), produced by the library's ipvsadm formatter.
//
// Chromium touches no network: a loopback URL, a fresh --user-data-dir, no
// proxy, every host but 127.0.0.1 resolving to nothing (the rule also
// catches IP literals, hence the exclusion), background services off.
// Without Chromium the test skips; with XLB_REQUIRE_PRIV=1 that is a failure.
// tests/integration/xlbd_test.cpp checks a running xlbd's page the same way.

#include "support/http_runner.h"
#include "support/status_page_check.h"

#include <xlb/daemon/table_join.h>

using namespace xlb;
using namespace xlb::test;

TEST(status_page_chromium, rows_match_the_ipvsadm_listing) {
    XLB_REQUIRE_CHROMIUM(chromium);
    auto dp = sample_dataplane();
    running_server srv(provider_for(dp));
    ASSERT_EQ(srv.where().addr.to_string(), "127.0.0.1");
    auto dom = dump_dom(chromium, fmt::format("http://127.0.0.1:{}/", srv.where().port));
    ASSERT_NE(dom.find("</html>"), std::string::npos) << dom.substr(0, 500);
    expect_page_matches(dom, format_listings(*dp));

    // What only xlbd knows: the real server down and out of the table is on
    // the page, as is the service whose quorum is lost.
    bool down_shown = false;
    bool lost_shown = false;
    for (const auto& r : html_rows(dom)) {
        if (r.attr("data-real") == "10.1.0.13:80") {
            down_shown = true;
            EXPECT_EQ(r.attr("data-health"), "down");
            EXPECT_EQ(r.attr("data-in-table"), "0");
            EXPECT_EQ(r.cell("check")->value, "down");
        }
        if (r.attr("class").rfind("service", 0) == 0 && r.attr("data-service") == "TCP 10.0.0.2:443") {
            lost_shown = true;
            EXPECT_EQ(r.attr("data-quorum-up"), "0");
        }
    }
    EXPECT_TRUE(down_shown);
    EXPECT_TRUE(lost_shown);
}
