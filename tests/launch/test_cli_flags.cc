// Repeatable flags are taken out of argv before absl parses it.
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "launch/cli_flags.h"

namespace moe::launch {
namespace {

struct Argv {
  explicit Argv(std::vector<std::string> a) : args(std::move(a)) {
    for (auto& s : args) ptrs.push_back(s.data());
    ptrs.push_back(nullptr);
  }
  int argc() const { return int(args.size()); }
  std::vector<std::string> args;
  std::vector<char*> ptrs;
};

TEST(CliFlags, TakesEveryFormInOrderAndKeepsTheRest) {
  Argv a({"prog", "--set", "a=1", "--preset=x", "--set=b=2,3", "-set", "c=4", "--", "--set", "d=5"});
  int argc = a.argc();
  auto v = take_repeated_flag("set", argc, a.ptrs.data());
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(*v, (std::vector<std::string>{"a=1", "b=2,3", "c=4"}));
  ASSERT_EQ(argc, 5);
  EXPECT_STREQ(a.ptrs[1], "--preset=x");
  EXPECT_STREQ(a.ptrs[2], "--");
  EXPECT_STREQ(a.ptrs[3], "--set");  // after "--": positional
  EXPECT_EQ(a.ptrs[5], nullptr);
}

TEST(CliFlags, DoesNotTakeLongerNames) {
  Argv a({"prog", "--settings=1", "--set_x", "y"});
  int argc = a.argc();
  auto v = take_repeated_flag("set", argc, a.ptrs.data());
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->empty());
  EXPECT_EQ(argc, 4);
}

TEST(CliFlags, MissingValueIsAnError) {
  Argv a({"prog", "--set"});
  int argc = a.argc();
  auto v = take_repeated_flag("set", argc, a.ptrs.data());
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("--set needs a value"), std::string::npos);
}

}  // namespace
}  // namespace moe::launch
