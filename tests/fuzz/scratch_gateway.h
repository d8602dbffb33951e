// What the end-to-end fuzz targets (rest_facade, mllp_pipeline) build a gateway from: the shipped
// profiles and mappings, and a real SQLite store in a scratch folder that is removed when this
// goes (declare it before what uses the store, so that goes first).
//   struct Gateway {
//     ScratchGateway parts{"kgw-rest-fuzz"};
//     std::shared_ptr<Facade> facade = ...;  // built from parts.store, parts.validator ...
//   };
#pragma once

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>

#include "common/check.h"
#include "common/log.h"
#include "mapping/converter.h"
#include "profiles/validator.h"
#include "store/sqlite_store.h"

struct ScratchGateway {
  std::filesystem::path dir;
  std::shared_ptr<const ketamine::profiles::Validator> validator;
  std::shared_ptr<const ketamine::mapping::Converter> converter;
  std::shared_ptr<ketamine::store::MessageStore> store;

  explicit ScratchGateway(const std::string& name) {
    // A log line per input would slow the fuzzer down.
    ketamine::log::SetMinLevel(ketamine::log::Level::kError);
    std::string base = (std::filesystem::temp_directory_path() / (name + "-XXXXXX")).string();
    KETAMINE_CHECK(mkdtemp(base.data()) != nullptr);
    dir = base;
    auto loaded_validator = ketamine::profiles::Validator::Load(KETAMINE_PROFILES_DIR);
    KETAMINE_CHECK(loaded_validator.ok());
    validator = *loaded_validator;
    auto loaded_converter = ketamine::mapping::Converter::Load({KETAMINE_SOURCE_DIR "/mappings"});
    KETAMINE_CHECK(loaded_converter.ok());
    converter = *loaded_converter;
    ketamine::store::SqliteOptions options;
    options.synchronous_full = false;  // nothing here needs to survive a power loss
    auto opened = ketamine::store::SqliteStore::Open(dir, options);
    KETAMINE_CHECK(opened.ok());
    store = std::move(*opened);
  }
  ~ScratchGateway() {
    store.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
  ScratchGateway(const ScratchGateway&) = delete;
  ScratchGateway& operator=(const ScratchGateway&) = delete;
};
