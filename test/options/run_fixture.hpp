//
// test/options/run_fixture.hpp
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// The fixture of the async_run tests (run.cpp, run_streams.cpp).
//

#ifndef PIDFD_TEST_OPTIONS_RUN_FIXTURE_HPP
#define PIDFD_TEST_OPTIONS_RUN_FIXTURE_HPP

#include "pidfd/run.hpp"
#include "support/fixture.hpp"

#include <boost/system/error_code.hpp>

#include <gtest/gtest.h>

#include <optional>
#include <string_view>
#include <utility>

namespace pidfd_options_test {

class run_fixture : public pidfd_test::fixture
{
protected:
  using run_outcome = std::pair<boost::system::error_code, pidfd::run_result>;

  // async_run with a callback, to completion; the handler never runs
  // inside async_run.
  run_outcome run_to_end(std::string_view program,
      const pidfd::argument_list& args, pidfd::run_options options = {})
  {
    std::optional<run_outcome> result;
    pidfd::async_run(ctx, program, args, std::move(options),
        [&](boost::system::error_code ec, pidfd::run_result r) {
          result.emplace(ec, std::move(r));
        });
    EXPECT_FALSE(result); // not inline
    run();
    EXPECT_TRUE(result);
    return result ? std::move(*result) : run_outcome{};
  }
};

} // namespace pidfd_options_test

#endif // PIDFD_TEST_OPTIONS_RUN_FIXTURE_HPP
