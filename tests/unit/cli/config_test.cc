#include "cli/config.h"

#include <gtest/gtest.h>

#include "cli/args.h"

namespace ketamine::cli {
namespace {

TEST(ConfigTest, DefaultsAreTheSandbox) {
  auto config = ParseConfig("{}", "test.json");
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->mllp.host, "127.0.0.1");
  EXPECT_EQ(config->mllp.port, 2575);
  EXPECT_EQ(config->http_port, 8080);
  EXPECT_EQ(config->data_dir, "data");
  EXPECT_EQ(config->mllp.max_frame_bytes, 1u << 20);
  EXPECT_EQ(config->http_drain_seconds, 10);
}

TEST(ConfigTest, TheRestDrainTimeIsReadWithinItsRange) {
  auto config = ParseConfig(R"({"http": {"drain_seconds": 30}})", "test.json");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->http_drain_seconds, 30);
  for (const char* wrong : {R"({"http": {"drain_seconds": 0}})", R"({"http": {"drain_seconds": 3601}})",
                            R"({"http": {"drain_seconds": "10"}})"}) {
    auto refused = ParseConfig(wrong, "site.json");
    ASSERT_FALSE(refused.ok()) << wrong;
    EXPECT_EQ(refused.status().location().ToString(), "http.drain_seconds") << wrong;
  }
}

TEST(ConfigTest, TheRestBaseUrlIsAnHttpUrlWithoutATrailingSlash) {
  auto config = ParseConfig(R"({"http": {"base_url": "https://gw.example.org/fhir/"}})", "test.json");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->http_base_url, "https://gw.example.org/fhir");
  for (const char* wrong : {R"({"http": {"base_url": "gw.example.org/fhir"}})", R"({"http": {"base_url": "ftp://gw/fhir"}})",
                            R"({"http": {"base_url": "https://gw.example.org/fhir?x=1"}})",
                            R"({"http": {"base_url": "https://gw.example.org"}})", R"({"http": {"base_url": 8080}})"}) {
    auto refused = ParseConfig(wrong, "site.json");
    ASSERT_FALSE(refused.ok()) << wrong;
    EXPECT_EQ(refused.status().location().ToString(), "http.base_url") << wrong;
  }
}

TEST(ConfigTest, ReadsListenerSettings) {
  auto config = ParseConfig(R"({"data_dir": "d", "mllp": {"port": 0, "max_message_bytes": 2048,
      "idle_timeout_ms": 1000, "default_charset": "8859/1",
      "tls": {"certificate": "c.pem", "private_key": "k.pem", "ca": "ca.pem",
              "require_client_certificate": true}}})",
                            "test.json");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->mllp.port, 0);
  EXPECT_EQ(config->mllp.max_frame_bytes, 2048u);
  EXPECT_EQ(config->inbound.parse.default_charset, "8859/1");
  ASSERT_TRUE(config->mllp.tls.has_value());
  EXPECT_TRUE(config->mllp.tls->verify_peer);
}

TEST(ConfigTest, ErrorsNameTheKey) {
  auto unknown = ParseConfig(R"({"mllp": {"tls": {"certificate": "c", "private_key": "k",
      "cipher": "x"}}})", "site.json");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().location().ToString(), "mllp.tls.cipher");
  auto wrong_type = ParseConfig(R"({"mllp": {"port": "2575"}})", "site.json");
  ASSERT_FALSE(wrong_type.ok());
  EXPECT_EQ(wrong_type.status().location().ToString(), "mllp.port");
  auto out_of_range = ParseConfig(R"({"mllp": {"port": 70000}})", "site.json");
  EXPECT_FALSE(out_of_range.ok());
  auto missing_ca = ParseConfig(R"({"mllp": {"tls": {"certificate": "c", "private_key": "k",
      "require_client_certificate": true}}})", "site.json");
  ASSERT_FALSE(missing_ca.ok());
  EXPECT_EQ(missing_ca.status().location().ToString(), "mllp.tls.ca");
  auto bad_json = ParseConfig("{\"mllp\": ", "site.json");
  ASSERT_FALSE(bad_json.ok());
  EXPECT_NE(bad_json.status().message().find("invalid JSON"), std::string::npos);
  std::string deep(100000, '[');
  EXPECT_FALSE(ParseConfig(deep, "deep.json").ok());
}

TEST(ConfigTest, FolderInboxes) {
  auto config = ParseConfig(R"({"inboxes": [
      {"name": "chairs", "folder": "/srv/in/chairs", "layout": "pain-vitals", "poll_ms": 500},
      {"folder": "/srv/in/excel", "layout": "pain-vitals", "charset": "WINDOWS-1252", "max_bytes": 1048576}]})",
                            "test.json");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  ASSERT_EQ(config->inboxes.size(), 2u);
  EXPECT_EQ(config->inboxes[0].name, "chairs");
  EXPECT_EQ(config->inboxes[0].folder, "/srv/in/chairs");
  EXPECT_EQ(config->inboxes[0].poll_ms, 500);
  EXPECT_EQ(config->inboxes[1].name, "inbox-2");
  EXPECT_EQ(config->inboxes[1].charset, "WINDOWS-1252");
  EXPECT_EQ(config->inboxes[1].max_bytes, 1048576u);
  const std::pair<const char*, const char*> refused[] = {
      {R"({"inboxes": {}})", "inboxes"},
      {R"({"inboxes": [{"layout": "pain-vitals"}]})", "inboxes[0].folder"},
      {R"({"inboxes": [{"folder": "in"}]})", "inboxes[0].layout"},
      {R"({"inboxes": [{"folder": "in", "layout": "pain-vitals", "poll_ms": 10}]})", "inboxes[0].poll_ms"},
      {R"({"inboxes": [{"folder": "in", "layout": "pain-vitals", "charset": "KLINGON-8"}]})", "inboxes[0].charset"},
      {R"({"inboxes": [{"folder": "in", "layout": "pain-vitals", "watch": true}]})", "inboxes[0].watch"},
      {R"({"inboxes": [{"name": "a", "folder": "in", "layout": "x"}, {"name": "a", "folder": "in2", "layout": "x"}]})",
       "inboxes[1].name"}};
  for (const auto& [text, key] : refused) {
    auto wrong = ParseConfig(text, "site.json");
    ASSERT_FALSE(wrong.ok()) << text;
    EXPECT_EQ(wrong.status().location().ToString(), key) << text;
  }
}

TEST(ConfigTest, StoreAndRetention) {
  auto defaults = ParseConfig("{}", "test.json");
  EXPECT_FALSE(defaults->postgres.has_value());
  EXPECT_EQ(defaults->outbox_retention_days, 30);
  auto pg = ParseConfig(R"({"store": {"type": "postgres", "conninfo": "host=/run/postgresql dbname=kgw",
      "instance": "gw-a", "lease_ms": 60000}, "outbox_retention_days": 0})", "site.json");
  ASSERT_TRUE(pg.ok()) << pg.status().ToString();
  ASSERT_TRUE(pg->postgres.has_value());
  EXPECT_EQ(pg->postgres->instance, "gw-a");
  EXPECT_EQ(pg->postgres->lease_ms, 60000);
  EXPECT_EQ(pg->outbox_retention_days, 0);
  auto no_conninfo = ParseConfig(R"({"store": {"type": "postgres"}})", "site.json");
  ASSERT_FALSE(no_conninfo.ok());
  EXPECT_EQ(no_conninfo.status().location().ToString(), "store.conninfo");
  auto other = ParseConfig(R"({"store": {"type": "mysql"}})", "site.json");
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.status().location().ToString(), "store.type");
  EXPECT_FALSE(ParseConfig(R"({"store": {"type": "sqlite", "conninfo": "x"}})", "site.json").ok());
  EXPECT_FALSE(ParseConfig(R"({"store": {"type": "postgres", "conninfo": "x", "lease_ms": 10}})", "site.json").ok());
  EXPECT_FALSE(ParseConfig(R"({"outbox_retention_days": -1})", "site.json").ok());
  EXPECT_EQ(defaults->sqlite.cache_mib, 64);
  EXPECT_EQ(defaults->sqlite.wal_limit_mib, 64);
  // The SQLite sizes: a value in range is taken, 0 is refused, and a PostgreSQL store has neither.
  for (const std::string key : {"cache_mib", "wal_limit_mib"}) {
    auto sized = ParseConfig(R"({"store": {"type": "sqlite", ")" + key + R"(": 256}})", "site.json");
    ASSERT_TRUE(sized.ok()) << sized.status().ToString();
    EXPECT_EQ(key == "cache_mib" ? sized->sqlite.cache_mib : sized->sqlite.wal_limit_mib, 256);
    for (const std::string& store : {R"("type": "sqlite", ")" + key + R"(": 0)",
                                    R"("type": "postgres", "conninfo": "x", ")" + key + R"(": 8)"}) {
      auto refused = ParseConfig(R"({"store": {)" + store + "}}", "site.json");
      ASSERT_FALSE(refused.ok()) << store;
      EXPECT_EQ(refused.status().location().ToString(), "store." + key) << store;
    }
  }
  auto ledger_everywhere = ParseConfig(R"({"store": {"type": "postgres", "conninfo": "x"},
      "routing": {"destinations": {"ledger": {"type": "ledger"}}}})", "site.json");
  ASSERT_FALSE(ledger_everywhere.ok());
  EXPECT_EQ(ledger_everywhere.status().location().ToString(), "routing.destinations.ledger.instances");
}

TEST(ArgsTest, OptionsFlagsAndPositionals) {
  auto args = ParseArgs({"--config", "a.json", "--mllp-port=0", "--help", "x"},
                        {{"--config", "--mllp-port"}, {"--help"}});
  ASSERT_TRUE(args.ok());
  EXPECT_EQ(*args->Option("--config"), "a.json");
  EXPECT_EQ(*args->Option("--mllp-port"), "0");
  EXPECT_TRUE(args->Has("--help"));
  EXPECT_EQ(args->positional, std::vector<std::string>{"x"});
  EXPECT_FALSE(ParseArgs({"--nope"}, {}).ok());
  EXPECT_FALSE(ParseArgs({"--config"}, {{"--config"}, {}}).ok());
  EXPECT_FALSE(ParsePort("65536", "--mllp-port").ok());
  EXPECT_FALSE(ParsePort("-1", "--mllp-port").ok());
  EXPECT_EQ(*ParsePort("0", "--mllp-port"), 0);
}

}  // namespace
}  // namespace ketamine::cli
