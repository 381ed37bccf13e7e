// The fallback record (xlb/dataplane/fallback.h): where it is kept, how it
// reads back, and the change sets that move a table between backends.

#include <xlb/dataplane/dataplane.h>
#include <xlb/dataplane/fallback.h>
#include <xlb/dataplane/memory_dataplane.h>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include <unistd.h>

using namespace xlb;

namespace {

class fallback_record_test : public ::testing::Test {
protected:
    void SetUp() override {
        _dir = fmt::format("{}/xlb-unit-fallback-{}", ::testing::TempDir(), getpid());
        setenv("XLB_RUN_DIR", _dir.c_str(), 1);
    }
    void TearDown() override {
        std::filesystem::remove_all(_dir);
        unsetenv("XLB_RUN_DIR");
    }
    std::string _dir;
};

TEST_F(fallback_record_test, is_kept_per_pin_dir_and_reads_back) {
    EXPECT_EQ(run_dir(), _dir);
    EXPECT_EQ(fallback_path("/sys/fs/bpf/xlb/default"), _dir + "/fallback/%2Fsys%2Ffs%2Fbpf%2Fxlb%2Fdefault");
    EXPECT_EQ(fallback_path("/a%b"), _dir + "/fallback/%2Fa%25b");
    auto none = read_fallback("/sys/fs/bpf/xlb/default");
    ASSERT_TRUE(none) << none.error().message();
    EXPECT_FALSE(*none);

    fallback_record rec{"/sys/fs/bpf/xlb/default", "mv0", "the kernel answered\nOperation not supported", 1700000000};
    ASSERT_TRUE(write_fallback(rec));
    auto got = read_fallback(rec.pin_dir);
    ASSERT_TRUE(got && *got);
    rec.reason = "the kernel answered Operation not supported"; // one line
    EXPECT_EQ(**got, rec);
    EXPECT_FALSE(*read_fallback("/sys/fs/bpf/xlb/other")) << "another instance has none";
    // No temp file is left beside it.
    size_t files = 0;
    for (const auto& e : std::filesystem::directory_iterator(_dir + "/fallback")) {
        (void)e;
        ++files;
    }
    EXPECT_EQ(files, 1u);

    ASSERT_TRUE(remove_fallback(rec.pin_dir));
    EXPECT_FALSE(*read_fallback(rec.pin_dir));
    EXPECT_TRUE(remove_fallback(rec.pin_dir)) << "no record is no error";
}

TEST(copy_table, moves_a_table_in_one_set_keeping_dest_order) {
    memory_dataplane from;
    service_config s;
    s.key = service_key{protocol::tcp, *endpoint::parse("10.0.0.1:80")};
    s.sched = scheduler::wrr;
    ASSERT_TRUE(from.add_service(s));
    for (const char* d : {"10.1.0.1:80", "10.1.0.2:80", "10.1.0.3:80"}) {
        dest_config dc;
        dc.addr = *endpoint::parse(d);
        dc.weight = 2;
        ASSERT_TRUE(from.add_dest(s.key, dc));
    }
    auto table = *from.list();
    auto t = *from.get_timeouts();

    memory_dataplane to;
    service_config other;
    other.key = service_key{protocol::udp, *endpoint::parse("10.0.0.9:53")};
    ASSERT_TRUE(to.add_service(other));
    ASSERT_TRUE(to.apply(copy_table(table, &t, true)));
    auto got = *to.list();
    ASSERT_EQ(got.size(), 1u) << "replace clears the target first";
    ASSERT_EQ(got[0].dests.size(), 3u);
    for (size_t i = 0; i < 3; ++i) {
        EXPECT_EQ(got[0].dests[i].config.addr, table[0].dests[i].config.addr) << "listed in the same order";
    }
    ASSERT_TRUE(to.apply(delete_table(table)));
    EXPECT_TRUE(to.list()->empty());
}

} // namespace
