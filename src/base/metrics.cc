#include "s3xfs/base/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace s3xfs::metrics {

namespace {

[[noreturn]] void Misuse(const std::string& what) {
  std::fprintf(stderr, "s3xfs: metrics: %s\n", what.c_str());
  std::abort();
}

bool ValidName(std::string_view n, bool colon) {
  if (n.empty()) return false;
  for (size_t i = 0; i < n.size(); ++i) {
    char c = n[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              (colon && c == ':') || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

const char* TypeName(Type t) {
  switch (t) {
    case Type::kCounter: return "counter";
    case Type::kGauge: return "gauge";
    case Type::kHistogram: return "histogram";
  }
  return "untyped";
}

// `{a="x",b="y"}` (with `extra` appended, e.g. le="0.5"), or "" without labels.
void AppendLabels(std::string& out, const std::vector<std::string>& names,
                  const std::vector<std::string>& values, std::string_view extra = {}) {
  if (names.empty() && extra.empty()) return;
  out += '{';
  for (size_t i = 0; i < names.size(); ++i) {
    if (i) out += ',';
    out += names[i];
    out += "=\"";
    out += EscapeLabelValue(values[i]);
    out += '"';
  }
  if (!extra.empty()) {
    if (!names.empty()) out += ',';
    out += extra;
  }
  out += '}';
}

void AppendSample(std::string& out, std::string_view name, const std::vector<std::string>& names,
                  const std::vector<std::string>& values, const std::string& value,
                  std::string_view extra = {}) {
  out += name;
  AppendLabels(out, names, values, extra);
  out += ' ';
  out += value;
  out += '\n';
}

}  // namespace

// ---- values ----

Histogram::Histogram(const std::vector<double>* bounds)
    : bounds_(bounds), buckets_(new std::atomic<uint64_t>[bounds->size() + 1]) {
  for (size_t i = 0; i <= bounds_->size(); ++i) buckets_[i].store(0, std::memory_order_relaxed);
}

void Histogram::Observe(double v) {
  // First bound >= v (buckets are `le`: inclusive upper bounds); NaN lands in +Inf.
  size_t i = static_cast<size_t>(
      std::lower_bound(bounds_->begin(), bounds_->end(), v) - bounds_->begin());
  if (std::isnan(v)) i = bounds_->size();
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot s;
  s.cumulative.resize(bounds_->size() + 1);
  uint64_t total = 0;
  for (size_t i = 0; i <= bounds_->size(); ++i) {
    total += buckets_[i].load(std::memory_order_relaxed);
    s.cumulative[i] = total;
  }
  s.count = total;
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

const std::vector<double>& LatencyBuckets() {
  static const std::vector<double> b = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                        0.25,   0.5,   1,      2.5,   5,    10,   30,    60};
  return b;
}

Registration& Registration::operator=(Registration&& o) noexcept {
  if (this != &o) {
    Reset();
    remove_ = std::move(o.remove_);
    o.remove_ = nullptr;
  }
  return *this;
}

void Registration::Reset() {
  if (remove_) {
    auto fn = std::move(remove_);
    remove_ = nullptr;
    fn();
  }
}

// ---- families ----

template <typename M>
M& Family<M>::With(std::initializer_list<std::string_view> values) {
  std::vector<std::string> v;
  v.reserve(values.size());
  for (std::string_view s : values) v.emplace_back(s);
  return Child(std::move(v));
}

template <typename M>
M& Family<M>::With(const std::vector<std::string>& values) {
  return Child(values);
}

template <typename M>
M& Family<M>::Child(std::vector<std::string> values) {
  if (values.size() != labels_.size()) {
    Misuse(name_ + ": " + std::to_string(values.size()) + " label values for " +
           std::to_string(labels_.size()) + " labels");
  }
  {
    std::shared_lock l(mu_);
    auto it = children_.find(values);
    if (it != children_.end()) return *it->second;
  }
  std::unique_lock l(mu_);
  auto& slot = children_[std::move(values)];
  if (!slot) {
    if constexpr (std::is_same_v<M, Histogram>) {
      slot = std::make_unique<Histogram>(&bounds_);
    } else {
      slot = std::make_unique<M>();
    }
  }
  return *slot;
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

// ---- registry ----

Registry::~Registry() = default;

void* Registry::FindOrAdd(std::string_view name, std::string_view help, Type type,
                          std::vector<std::string>& labels, const std::vector<double>* bounds) {
  if (!ValidName(name, true)) Misuse("invalid metric name \"" + std::string(name) + "\"");
  for (const std::string& l : labels) {
    if (!ValidName(l, false) || l.rfind("__", 0) == 0 || (type == Type::kHistogram && l == "le"))
      Misuse(std::string(name) + ": invalid label name \"" + l + "\"");
  }
  if (bounds) {
    for (size_t i = 0; i < bounds->size(); ++i) {
      if (!std::isfinite((*bounds)[i]) || (i > 0 && (*bounds)[i] <= (*bounds)[i - 1]))
        Misuse(std::string(name) + ": bucket bounds must be finite and increasing");
    }
  }
  std::lock_guard l(mu_);
  auto it = families_.find(name);
  if (it != families_.end()) {
    bool same = it->second.type == type;
    if (same) {
      auto check = [&](auto* f) {
        return f->help_ == help && f->labels_ == labels && (!bounds || f->bounds_ == *bounds);
      };
      switch (type) {
        case Type::kCounter: same = check(static_cast<CounterFamily*>(it->second.family)); break;
        case Type::kGauge: same = check(static_cast<GaugeFamily*>(it->second.family)); break;
        case Type::kHistogram: same = check(static_cast<HistogramFamily*>(it->second.family)); break;
      }
    }
    if (!same) Misuse(std::string(name) + " registered twice with different definitions");
    return it->second.family;
  }
  void* f = nullptr;
  switch (type) {
    case Type::kCounter:
      counters_.emplace_back(new CounterFamily(this, std::string(name), std::string(help),
                                               std::move(labels), {}));
      f = counters_.back().get();
      break;
    case Type::kGauge:
      gauges_.emplace_back(new GaugeFamily(this, std::string(name), std::string(help),
                                           std::move(labels), {}));
      f = gauges_.back().get();
      break;
    case Type::kHistogram:
      histograms_.emplace_back(new HistogramFamily(this, std::string(name), std::string(help),
                                                   std::move(labels), *bounds));
      f = histograms_.back().get();
      break;
  }
  families_.emplace(std::string(name), Entry{type, f});
  return f;
}

CounterFamily& Registry::Counters(std::string_view name, std::string_view help,
                                  std::vector<std::string> labels) {
  return *static_cast<CounterFamily*>(FindOrAdd(name, help, Type::kCounter, labels, nullptr));
}

GaugeFamily& Registry::Gauges(std::string_view name, std::string_view help,
                              std::vector<std::string> labels) {
  return *static_cast<GaugeFamily*>(FindOrAdd(name, help, Type::kGauge, labels, nullptr));
}

HistogramFamily& Registry::Histograms(std::string_view name, std::string_view help,
                                      std::vector<std::string> labels,
                                      const std::vector<double>& bounds) {
  return *static_cast<HistogramFamily*>(FindOrAdd(name, help, Type::kHistogram, labels, &bounds));
}

template <typename M>
Registration Registry::BindImpl(Family<M>& family, std::vector<std::string> values,
                                std::function<double()> fn) {
  if (values.size() != family.labels_.size()) {
    Misuse(family.name_ + ": " + std::to_string(values.size()) + " label values for " +
           std::to_string(family.labels_.size()) + " labels");
  }
  std::lock_guard l(scrape_mu_);
  family.callbacks_[values] = std::move(fn);
  return Registration([this, &family, values = std::move(values)] {
    std::lock_guard l(scrape_mu_);
    family.callbacks_.erase(values);
  });
}

Registration Registry::Bind(GaugeFamily& family, std::vector<std::string> values,
                            std::function<double()> fn) {
  return BindImpl(family, std::move(values), std::move(fn));
}

Registration Registry::Bind(CounterFamily& family, std::vector<std::string> values,
                            std::function<double()> fn) {
  return BindImpl(family, std::move(values), std::move(fn));
}

Registration Registry::OnCollect(std::function<void()> fn) {
  std::lock_guard l(scrape_mu_);
  uint64_t id = next_hook_++;
  hooks_.emplace(id, std::move(fn));
  return Registration([this, id] {
    std::lock_guard l(scrape_mu_);
    hooks_.erase(id);
  });
}

std::string Registry::Render() {
  std::lock_guard scrape(scrape_mu_);
  for (auto& [id, fn] : hooks_) fn();
  std::vector<std::pair<std::string, Entry>> fams;
  {
    std::lock_guard l(mu_);
    fams.assign(families_.begin(), families_.end());
  }
  std::string out;
  out.reserve(4096);
  auto header = [&](const std::string& name, const std::string& help, Type type) {
    out += "# HELP " + name + " " + EscapeHelp(help) + "\n";
    out += "# TYPE " + name + " " + TypeName(type) + "\n";
  };
  // Stored series and callback series of a counter or gauge family, merged in label order
  // (a callback shadows a stored series with the same labels).
  auto scalar = [&](auto* f, Type type, auto value_of) {
    header(f->name_, f->help_, type);
    std::map<std::vector<std::string>, std::string> rows;
    {
      std::shared_lock l(f->mu_);
      for (const auto& [values, m] : f->children_) rows[values] = value_of(*m);
    }
    for (const auto& [values, fn] : f->callbacks_) rows[values] = FormatValue(fn());
    for (const auto& [values, v] : rows) AppendSample(out, f->name_, f->labels_, values, v);
  };
  for (const auto& [name, e] : fams) {
    switch (e.type) {
      case Type::kCounter:
        scalar(static_cast<CounterFamily*>(e.family), Type::kCounter,
               [](const Counter& c) { return std::to_string(c.Value()); });
        break;
      case Type::kGauge:
        scalar(static_cast<GaugeFamily*>(e.family), Type::kGauge,
               [](const Gauge& g) { return FormatValue(g.Value()); });
        break;
      case Type::kHistogram: {
        auto* f = static_cast<HistogramFamily*>(e.family);
        header(f->name_, f->help_, Type::kHistogram);
        std::vector<std::pair<std::vector<std::string>, Histogram::Snapshot>> snaps;
        {
          std::shared_lock l(f->mu_);
          for (const auto& [values, h] : f->children_) snaps.emplace_back(values, h->Read());
        }
        for (const auto& [values, s] : snaps) {
          for (size_t i = 0; i <= f->bounds_.size(); ++i) {
            std::string le = "le=\"" +
                             (i < f->bounds_.size() ? FormatValue(f->bounds_[i]) : "+Inf") + "\"";
            AppendSample(out, f->name_ + "_bucket", f->labels_, values,
                         std::to_string(s.cumulative[i]), le);
          }
          AppendSample(out, f->name_ + "_sum", f->labels_, values, FormatValue(s.sum));
          AppendSample(out, f->name_ + "_count", f->labels_, values, std::to_string(s.count));
        }
        break;
      }
    }
  }
  return out;
}

Registry& Global() {
  static Registry* r = new Registry;  // never destroyed: see the header
  return *r;
}

// ---- exposition helpers ----

std::string EscapeLabelValue(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string EscapeHelp(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  // Shortest round-trip digits in %g style (0.0005, 1.073741824e+09), as Go's client prints.
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general);
  return std::string(buf, r.ptr);
}

}  // namespace s3xfs::metrics
