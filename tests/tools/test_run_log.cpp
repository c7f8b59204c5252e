#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "temp_dir.h"
#include "tools/run_log.h"

namespace {

using namespace r2g2::cli;
using r2g2::test::TempDir;

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

StepRecord record(int64_t step, double loss, double accuracy) {
  StepRecord r;
  r.step = step;
  r.epoch = step / 4;
  r.estimator = "r2g2";
  r.loss = loss;
  r.nll = loss / 2;
  r.kl = loss / 2;
  r.accuracy = accuracy;
  r.seconds = 0.5;
  return r;
}

TEST_CASE("a step window averages its steps; a VAE window has no accuracy") {
  StepWindow w;
  w.add(record(1, 1.0, 0.25));
  w.add(record(2, 3.0, 0.75));
  CHECK(w.steps() == 2);
  CHECK(w.loss() == 2.0);
  CHECK(w.nll() == 1.0);
  CHECK(w.accuracy() == 0.5);
  CHECK(w.step_seconds() == 0.5);
  CHECK(w.last().step == 2);
  w.reset();
  w.add(record(3, 4.0, std::numeric_limits<double>::quiet_NaN()));
  CHECK(std::isnan(w.accuracy()));
}

TEST_CASE("format_duration") {
  CHECK(format_duration(42.4) == "42s");
  CHECK(format_duration(65) == "1m05s");
  CHECK(format_duration(2 * 3600 + 3 * 60 + 10) == "2h03m");
  CHECK(format_duration(std::numeric_limits<double>::infinity()) == "?");
}

TEST_CASE("the CSV appears only when closed, and a resumed run keeps the rows up to its step") {
  TempDir dir;
  const std::string path = dir.file("run.csv");
  ExperimentOptions o;
  o.model = "mlp";
  o.estimator = "r2g2:2,rt";  // a schedule: its comma is quoted
  o.seed = 3;
  {
    CsvLog log(path, 0);
    for (int64_t s = 1; s <= 4; ++s) {
      StepWindow w;
      w.add(record(s, 1.0, 0.5));
      log.row(o, w, s, 0.1 * static_cast<double>(s));
    }
    CHECK_FALSE(std::filesystem::exists(path));
    log.close();
  }
  std::string text = read_text(path);
  CHECK(text.rfind(std::string(CsvLog::header()) + "\nmlp,\"r2g2:2,rt\",3,1,0,1,0.5,0.5,0.5,0.5,0.1\n", 0) ==
        0);
  {
    CsvLog resumed(path, 2);
    StepWindow w;
    w.add(record(3, 9.0, std::numeric_limits<double>::quiet_NaN()));  // a VAE's: no accuracy
    resumed.row(o, w, 3, 0.2);
    resumed.close();
  }
  text = read_text(path);
  CHECK(text.find(",1,0,1,") != std::string::npos);
  CHECK(text.find(",2,0,1,") != std::string::npos);
  CHECK(text.find(",3,0,9,4.5,4.5,,0.5,0.2\n") != std::string::npos);
  CHECK(text.find(",4,1,") == std::string::npos);  // the old run's row past the resume point is gone
}

TEST_CASE("a killed run's rows survive in PATH.tmp and a resume continues them, not a stale PATH") {
  TempDir dir;
  const std::string path = dir.file("run.csv");
  ExperimentOptions o;
  o.model = "vae1";
  o.estimator = "rt";
  o.seed = 1;
  auto write_rows = [&](CsvLog& log, int64_t first, int64_t last, double loss) {
    for (int64_t s = first; s <= last; ++s) {
      StepWindow w;
      w.add(record(s, loss, std::numeric_limits<double>::quiet_NaN()));
      log.row(o, w, s, 1.0);
    }
  };
  {  // an older run, closed: the stale PATH, with loss 7
    CsvLog old(path, 0);
    write_rows(old, 1, 6, 7.0);
    old.close();
  }
  {  // this run, killed after step 5 (never closed): its rows stay in PATH.tmp, PATH is untouched
    CsvLog killed(path, 0);
    write_rows(killed, 1, 5, 3.0);
  }
  CHECK(std::filesystem::exists(path + ".tmp"));
  CHECK(read_text(path).find(",7,3.5,3.5,") != std::string::npos);
  CHECK(read_text(path + ".tmp").find(",7,3.5,3.5,") == std::string::npos);
  CHECK(read_text(path + ".tmp").find(",5,1,3,1.5,1.5,") != std::string::npos);
  {  // resumed from its checkpoint at step 3, then killed again
    CsvLog resumed(path, 3);
    const std::string text = read_text(path + ".tmp");
    CHECK(text.find(",3,0,3,1.5,1.5,") != std::string::npos);  // rows up to the checkpoint, of this run
    CHECK(text.find(",1,0,3,") != std::string::npos);
    CHECK(text.find(",4,1,") == std::string::npos);  // trained by the killed process: trained again
    CHECK(text.find(",7,") == std::string::npos);    // nothing of the older run
    write_rows(resumed, 4, 4, 2.0);
  }
  {
    CsvLog resumed(path, 4);
    write_rows(resumed, 5, 6, 1.0);
    resumed.close();
  }
  CHECK_FALSE(std::filesystem::exists(path + ".tmp"));
  std::ifstream in(path);
  std::string line;
  std::vector<std::string> rows;
  while (std::getline(in, line)) rows.push_back(line);
  REQUIRE(rows.size() == 7);
  CHECK(rows[0] == CsvLog::header());
  CHECK(rows[1] == "vae1,rt,1,1,0,3,1.5,1.5,,0.5,1");
  CHECK(rows[3] == "vae1,rt,1,3,0,3,1.5,1.5,,0.5,1");
  CHECK(rows[4] == "vae1,rt,1,4,1,2,1,1,,0.5,1");
  CHECK(rows[6] == "vae1,rt,1,6,1,1,0.5,0.5,,0.5,1");
}

TEST_CASE("csv_field quotes only what needs it") {
  CHECK(csv_field("rt") == "rt");
  CHECK(csv_field("r2g2:2000,rt") == "\"r2g2:2000,rt\"");
  CHECK(csv_field("say \"hi\"") == "\"say \"\"hi\"\"\"");
}

TEST_CASE("JSON: members in order, NaN as null, strings quoted; written atomically") {
  EvalRecord e;
  e.split = "test";
  e.examples = 20;
  e.iwae_bound = -90.5;
  e.iwae_samples = 10;
  JsonObject j;
  j.add("command", "train").add("data_notice", "say \"hi\"").add("test", to_json(e));
  const std::string text = j.str();
  CHECK(text ==
        "{\"command\":\"train\",\"data_notice\":\"say "
        "\\\"hi\\\"\",\"test\":{\"split\":\"test\",\"examples\":20,"
        "\"accuracy\":null,\"log_likelihood\":null,\"ece\":null,\"samples\":0,\"iwae_bound\":-90.5,"
        "\"iwae_samples\":10}}");
  CHECK(JsonObject().add("lr", 3e-4).add("third", 1.0 / 3.0).str() ==
        "{\"lr\":0.0003,\"third\":0.3333333333333333}");
  TempDir dir;
  write_file_atomically(dir.file("run.json"), text);
  CHECK(read_text(dir.file("run.json")) == text);
  CHECK_FALSE(std::filesystem::exists(dir.file("run.json.tmp")));
  CHECK(describe(e) == "test: IWAE bound -90.5000 nats  (K = 10, 20 examples)");
}

}  // namespace
