#define CAF_SUITE unit.http_static
#include <caf/test/unit_test.hpp>

#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "protocols/http/static_files.hpp"

// Static files of the HTTP listener on a temporary web root: mapping,
// content types, revalidation, and hostile paths.

using namespace qmesh;
using http::static_files;
using http::static_reply;

namespace fs = std::filesystem;

namespace {

void write_file(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream out{p, std::ios::binary};
  out << text;
}

std::string field(const static_reply& r, const std::string& name) {
  for (const auto& [k, v] : r.fields)
    if (k == name)
      return v;
  return {};
}

struct fixture {
  fs::path dir;
  fs::path root;
  std::unique_ptr<static_files> web;

  fixture() {
    dir = fs::temp_directory_path()
          / ("qmesh-static-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    root = dir / "web";
    write_file(root / "index.html", "<h1>console</h1>");
    write_file(root / "app.js", "console.log(1)");
    write_file(root / "chat" / "index.html", "<h1>chat</h1>");
    write_file(root / "empty" / "readme.txt", "no index here");
    write_file(root / "package.json", "{}");
    write_file(root / ".secret.html", "hidden");
    write_file(root / "big.txt", std::string(2000, 'x'));
    write_file(root / "node_modules" / "@stomp" / "stompjs" / "bundles"
                 / "stomp.umd.min.js",
               "var StompJs={}");
    write_file(root / "node_modules" / "other" / "index.js", "other");
    write_file(dir / "outside.html", "outside the root");
    fs::create_symlink(dir / "outside.html", root / "escape.html");
    fs::create_symlink(root / "app.js", root / "alias.js");
    web = std::make_unique<static_files>(root.string(), 1000);
  }

  ~fixture() {
    fs::remove_all(dir);
  }

  static_reply get(std::string_view target, std::string_view etag = {},
                   std::string_view method = "GET") {
    return web->serve({method, target, etag});
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(http_static_tests, fixture)

CAF_TEST(directories serve their index and redirect without a slash) {
  auto r = get("/");
  CAF_CHECK_EQUAL(r.status, 200u);
  CAF_CHECK_EQUAL(r.body, "<h1>console</h1>");
  CAF_CHECK_EQUAL(r.content_type, "text/html; charset=utf-8");
  r = get("/chat/");
  CAF_CHECK_EQUAL(r.status, 200u);
  CAF_CHECK_EQUAL(r.body, "<h1>chat</h1>");
  r = get("/chat?room=a");
  CAF_CHECK_EQUAL(r.status, 301u);
  CAF_CHECK_EQUAL(field(r, "Location"), "/chat/?room=a");
  r = get("/empty/");
  CAF_CHECK_EQUAL(r.status, 404u);
  CAF_CHECK(r.body.find("\"reason\":2085") != std::string::npos);
}

CAF_TEST(files carry type validators and revalidate) {
  auto r = get("/app.js?v=1");
  CAF_CHECK_EQUAL(r.status, 200u);
  CAF_CHECK_EQUAL(r.content_type, "text/javascript; charset=utf-8");
  CAF_CHECK_EQUAL(field(r, "Cache-Control"), "no-cache");
  auto etag = field(r, "ETag");
  CAF_CHECK(!etag.empty());
  CAF_CHECK(!field(r, "Last-Modified").empty());
  auto again = get("/app.js", etag);
  CAF_CHECK_EQUAL(again.status, 304u);
  CAF_CHECK(again.body.empty());
  CAF_CHECK_EQUAL(get("/app.js", "\"other\", W/" + etag).status, 304u);
  CAF_CHECK_EQUAL(get("/app.js", "\"other\"").status, 200u);
  CAF_CHECK_EQUAL(get("/alias.js").status, 200u);
}

CAF_TEST(only GET and HEAD) {
  CAF_CHECK_EQUAL(get("/", {}, "HEAD").status, 200u);
  auto r = get("/", {}, "POST");
  CAF_CHECK_EQUAL(r.status, 405u);
  CAF_CHECK_EQUAL(field(r, "Allow"), "GET, HEAD");
}

CAF_TEST(vendored packages come from node_modules) {
  auto r = get("/vendor/@stomp/stompjs/bundles/stomp.umd.min.js");
  CAF_CHECK_EQUAL(r.status, 200u);
  CAF_CHECK_EQUAL(r.body, "var StompJs={}");
  CAF_CHECK_EQUAL(get("/vendor/other/index.js").status, 404u);
  CAF_CHECK_EQUAL(get("/node_modules/@stomp/stompjs/bundles/stomp.umd.min.js")
                    .status,
                  404u);
  CAF_CHECK_EQUAL(get("/vendor/@stomp/stompjs/../../other/index.js").status,
                  400u);
}

CAF_TEST(hostile paths are refused) {
  CAF_CHECK_EQUAL(get("/../outside.html").status, 400u);
  CAF_CHECK_EQUAL(get("/%2e%2e/outside.html").status, 400u);
  CAF_CHECK_EQUAL(get("/%2E%2e/%2E%2E/etc/passwd").status, 400u);
  CAF_CHECK_EQUAL(get("/chat/./index.html").status, 400u);
  CAF_CHECK_EQUAL(get("/..%2foutside.html").status, 400u);
  CAF_CHECK_EQUAL(get("/..%5coutside.html").status, 400u);
  CAF_CHECK_EQUAL(get("/a\\b").status, 400u);
  CAF_CHECK_EQUAL(get("/index.html%00.js").status, 400u);
  CAF_CHECK_EQUAL(get("/%zz").status, 400u);
  CAF_CHECK_EQUAL(get("/%4").status, 400u);
  CAF_CHECK_EQUAL(get("http://host/index.html").status, 400u);
  CAF_CHECK_EQUAL(get("/" + std::string(2000, 'a')).status, 400u);
  CAF_CHECK_EQUAL(get("//etc/passwd").status, 404u);
  CAF_CHECK_EQUAL(get("/escape.html").status, 404u);
  CAF_CHECK_EQUAL(get("/.secret.html").status, 404u);
  CAF_CHECK_EQUAL(get("/package.json").status, 404u);
  CAF_CHECK_EQUAL(get("/big.txt").status, 404u);
  CAF_CHECK_EQUAL(get("/missing.html").status, 404u);
  auto r = get("/%2e%2e/x");
  CAF_CHECK(r.body.find("\"reason\":2046") != std::string::npos);
  CAF_CHECK_EQUAL(r.content_type, "application/json");
}

CAF_TEST(a missing root serves nothing) {
  static_files none{(dir / "nope").string()};
  CAF_CHECK(none.root().empty());
  CAF_CHECK_EQUAL(none.serve({"GET", "/", {}}).status, 404u);
}

CAF_TEST_FIXTURE_SCOPE_END()
