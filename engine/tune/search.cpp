#include "tune/search.hpp"

#include <boost/context/fiber.hpp>
#include <boost/context/fixedsize_stack.hpp>
#include <nlopt.hpp>

#include <algorithm>
#include <cmath>
#include <deque>
#include <random>

namespace patchbay::detail {

namespace {

// A parameter's value from a point of [0, 1): how every search here draws.
Value from_unit(const ParameterSpec& p, double u) {
  // Both bounds of a continuous range are reachable (an optimum often lies on one); a whole
  // number or a category takes u = 1 as the last one.
  u = std::clamp(u, 0.0, 1.0);
  switch (p.kind) {
    case ParameterKind::uniform:
      return p.lower + u * (p.upper - p.lower);
    case ParameterKind::loguniform:
      return std::exp(std::log(p.lower) + u * (std::log(p.upper) - std::log(p.lower)));
    case ParameterKind::randint: {
      const auto span = static_cast<std::int64_t>(p.upper - p.lower);
      return static_cast<std::int64_t>(p.lower) +
             std::min(span - 1, static_cast<std::int64_t>(u * static_cast<double>(span)));
    }
    case ParameterKind::choice: {
      const auto n = p.categories.size();
      return p.categories[std::min(n - 1, static_cast<std::size_t>(u * static_cast<double>(n)))];
    }
  }
  return {};
}

// The inverse of from_unit() for a model's own value (the middle of the space when it has
// none that fits).
double to_unit(const ParameterSpec& p, const Value& v) {
  if (p.kind == ParameterKind::choice) {
    for (std::size_t i = 0; i < p.categories.size(); ++i) {
      if (p.categories[i] == v) return (static_cast<double>(i) + 0.5) / p.categories.size();
    }
    return 0.5;
  }
  if (!v.is_number()) return 0.5;
  const double x = v.as_double();
  double u =
      p.kind == ParameterKind::loguniform
          ? (x > 0 ? (std::log(x) - std::log(p.lower)) / (std::log(p.upper) - std::log(p.lower))
                   : 0.5)
          : (x - p.lower) / (p.upper - p.lower);
  if (p.kind == ParameterKind::randint) u += 0.5 / (p.upper - p.lower);
  return std::isfinite(u) ? std::clamp(u, 0.0, 1.0) : 0.5;
}

// Random draws, made as they are asked for (num_samples may be large).
class RandomSearch final : public Search {
 public:
  explicit RandomSearch(const TuneSpec& spec) : spec_(spec), rng_(spec.algorithm.seed) {}
  std::optional<Proposal> next() override {
    if (next_ >= spec_.num_samples) return std::nullopt;
    Proposal p{next_++, {}};
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    for (const auto& parameter : spec_.parameters)
      p.values.push_back(from_unit(parameter, unit(rng_)));
    return p;
  }
  void tell(std::size_t, const std::vector<double>&) override {}

 private:
  const TuneSpec& spec_;
  std::mt19937_64 rng_;
  std::size_t next_ = 0;
};

// The grid's points in order, the last parameter varying fastest, each made as it is asked for.
class GridSearch final : public Search {
 public:
  explicit GridSearch(const TuneSpec& spec) : axes_(grid_axes(spec)) {
    total_ = 1;
    for (const auto& axis : axes_) {
      if (total_ > spec.num_samples / std::max<std::size_t>(axis.size(), 1)) {
        total_ = spec.num_samples;
        break;
      }
      total_ *= axis.size();
    }
    total_ = std::min(total_, spec.num_samples);
  }
  std::optional<Proposal> next() override {
    if (next_ >= total_) return std::nullopt;
    Proposal p{next_, std::vector<Value>(axes_.size())};
    std::size_t index = next_++;
    for (std::size_t i = axes_.size(); i-- > 0;) {
      p.values[i] = axes_[i][index % axes_[i].size()];
      index /= axes_[i].size();
    }
    return p;
  }
  void tell(std::size_t, const std::vector<double>&) override {}

 private:
  std::vector<std::vector<Value>> axes_;
  std::size_t total_ = 0;
  std::size_t next_ = 0;
};

nlopt::algorithm nlopt_algorithm(const std::string& method) {
  if (method == "cobyla") return nlopt::LN_COBYLA;
  if (method == "bobyqa") return nlopt::LN_BOBYQA;
  if (method == "neldermead") return nlopt::LN_NELDERMEAD;
  return nlopt::LN_SBPLX;
}

// NLopt's local derivative-free optimisers, run as `chains` independent searches over the unit
// cube, each on a fiber of its own: its objective function hands the point to the tuning loop
// and waits for the score, so that several chains' trials run at once. Each chain has a fixed
// share of the budget and sees only its own scores, so that the result does not depend on
// which trial ends first.
//
// With several objectives each chain optimises its own weighted sum of them, each objective
// divided by its magnitude at the chain's first point: chain 0 the first objective
// alone, chain i < k (k objectives) the i-th alone, chain k all equally and the rest weights
// drawn evenly over the simplex (with two objectives: evenly spaced weights from the first
// alone to the second alone). The chains' optima are points of the Pareto front from one
// extreme to the other.
class NloptSearch final : public Search {
 public:
  static constexpr std::size_t kMaxChains = 1024;

  NloptSearch(const TuneSpec& spec, const std::vector<Value>& start) : spec_(spec) {
    const std::size_t n = spec.parameters.size();
    const std::size_t k = std::max<std::size_t>(1, spec.objectives.size());
    // By default a chain per concurrent trial; with several objectives at least k + 1, so that
    // each extreme of the front and a middle have one.
    std::size_t chains = spec.algorithm.chains != 0
                             ? spec.algorithm.chains
                             : std::max<std::size_t>({1, spec.max_concurrent, k > 1 ? k + 1 : 1});
    chains = std::min({chains, spec.num_samples, kMaxChains});
    objectives_ = k;
    nlopt::srand(spec.algorithm.seed);  // for the methods that draw (none of the default's)
    std::mt19937_64 rng(spec.algorithm.seed);
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    chains_.resize(chains);
    for (std::size_t c = 0; c < chains; ++c) {
      Chain& chain = chains_[c];
      chain.budget = spec.num_samples / chains + (c < spec.num_samples % chains ? 1 : 0);
      chain.x.resize(n);
      for (std::size_t i = 0; i < n; ++i) {
        chain.x[i] = c == 0 ? to_unit(spec.parameters[i], start[i]) : unit(rng);
      }
    }
    for (std::size_t c = 0; c < chains; ++c) {
      chains_[c].weights = weights(c, chains, k, rng);
    }
  }

  ~NloptSearch() override {
    // A chain still suspended in its objective function is ended: it is resumed with
    // `abandon` set, forces NLopt to stop and returns.
    for (auto& chain : chains_) {
      chain.abandon = true;
      while (chain.fiber)
        chain.fiber = std::move(chain.fiber).resume();
    }
  }

  std::optional<Proposal> next() override {
    for (std::size_t c = 0; c < chains_.size(); ++c) {
      Chain& chain = chains_[c];
      if (chain.waiting || chain.done) continue;
      if (!chain.started) {
        chain.started = true;
        chain.fiber = boost::context::fiber(
            std::allocator_arg, boost::context::fixedsize_stack(256 * 1024),
            [this, c](boost::context::fiber&& sink) { return run_chain(c, std::move(sink)); });
      }
      chain.fiber = std::move(chain.fiber).resume();  // runs to its next point, or its end
      if (chain.waiting) {
        const std::size_t tag = next_tag_++;
        tags_.push_back(c);
        return Proposal{tag, point(chain.pending)};
      }
    }
    return std::nullopt;
  }

  void tell(std::size_t tag, const std::vector<double>& scores) override {
    Chain& chain = chains_[tags_.at(tag)];
    const bool scored =
        scores.size() == objectives_ &&
        std::all_of(scores.begin(), scores.end(), [](double d) { return std::isfinite(d); });
    double value = 0;
    if (scored && objectives_ == 1) {
      value = scores[0];
      worst_ = std::min(worst_.value_or(value), value);
    } else if (scored) {
      // Several objectives: the chain's weighted sum of them, each divided by its magnitude at
      // the chain's first scored point (1 where that is 0), so that their units do not weigh.
      // The scale stays fixed for the chain: the optimiser then sees one function throughout.
      if (chain.scale.empty()) {
        for (double d : scores)
          chain.scale.push_back(std::abs(d) > 0 ? std::abs(d) : 1.0);
      }
      for (std::size_t i = 0; i < scores.size(); ++i)
        value += chain.weights[i] * scores[i] / chain.scale[i];
    } else {
      // No score: worse than the worst seen, so that the optimiser moves away.
      value = objectives_ == 1 ? worst_.value_or(0.0) - 1.0 : chain.worst - 1.0;
    }
    if (objectives_ > 1 && scored) chain.worst = std::min(chain.worst, value);
    chain.score = value;
    chain.waiting = false;
  }

 private:
  struct Chain {
    std::vector<double> x;
    std::vector<double> weights;  // of each objective in what the chain maximises
    std::vector<double> scale;    // several objectives: each one's scale (see tell())
    double worst = 0;             // several objectives: the worst weighted sum told
    std::vector<double> pending;
    std::size_t budget = 0;
    std::size_t used = 0;
    double score = 0;
    bool started = false;
    bool waiting = false;
    bool done = false;
    bool abandon = false;
    boost::context::fiber fiber;
    boost::context::fiber* sink = nullptr;
  };

  // Chain c's weights over k objectives (see the class's comment); they sum to 1.
  static std::vector<double> weights(std::size_t c, std::size_t chains, std::size_t k,
                                     std::mt19937_64& rng) {
    std::vector<double> w(k, 0.0);
    if (k == 1) {
      w[0] = 1;
    } else if (k == 2) {
      const double t = chains == 1 ? 0.0 : static_cast<double>(c) / static_cast<double>(chains - 1);
      w = {1 - t, t};
    } else if (c < k) {
      w[c] = 1;
    } else if (c == k) {
      std::fill(w.begin(), w.end(), 1.0 / static_cast<double>(k));
    } else {
      // Evenly over the simplex: normalised exponential draws.
      std::exponential_distribution<double> draw(1.0);
      double sum = 0;
      for (double& x : w)
        sum += x = draw(rng);
      for (double& x : w)
        x /= sum;
    }
    return w;
  }

  std::vector<Value> point(const std::vector<double>& u) const {
    std::vector<Value> values;
    for (std::size_t i = 0; i < u.size(); ++i)
      values.push_back(from_unit(spec_.parameters[i], u[i]));
    return values;
  }

  boost::context::fiber run_chain(std::size_t c, boost::context::fiber&& sink) {
    Chain& chain = chains_[c];
    chain.sink = &sink;
    const auto n = static_cast<unsigned>(chain.x.size());
    try {
      nlopt::opt opt(nlopt_algorithm(spec_.algorithm.method), n);
      opt.set_lower_bounds(std::vector<double>(n, 0.0));
      opt.set_upper_bounds(std::vector<double>(n, 1.0));
      opt.set_maxeval(static_cast<int>(chain.budget));
      opt.set_initial_step(std::vector<double>(n, 0.25));
      opt.set_xtol_abs(1e-9);
      opt.set_max_objective(
          [](const std::vector<double>& x, std::vector<double>&, void* data) {
            auto* self = static_cast<std::pair<NloptSearch*, std::size_t>*>(data);
            return self->first->evaluate(self->second, x);
          },
          &chain_ids_[c]);
      std::vector<double> x = chain.x;
      double f = 0;
      opt.optimize(x, f);
    } catch (const std::exception&) {
      // forced_stop (abandoned), roundoff or an exhausted budget: the chain is over.
    }
    chain.done = true;
    chain.waiting = false;
    return std::move(*chain.sink);
  }

  double evaluate(std::size_t c, const std::vector<double>& x) {
    Chain& chain = chains_[c];
    if (chain.abandon || chain.used >= chain.budget) throw nlopt::forced_stop();
    ++chain.used;
    chain.pending = x;
    chain.waiting = true;
    *chain.sink = std::move(*chain.sink).resume();  // back to next(); resumed after tell()
    if (chain.abandon) throw nlopt::forced_stop();
    return chain.score;
  }

  const TuneSpec& spec_;
  std::vector<Chain> chains_;
  std::vector<std::pair<NloptSearch*, std::size_t>> chain_ids_ = [this] {
    std::vector<std::pair<NloptSearch*, std::size_t>> ids;
    for (std::size_t c = 0; c < kMaxChains; ++c)
      ids.emplace_back(this, c);
    return ids;
  }();
  std::vector<std::size_t> tags_;
  std::size_t next_tag_ = 0;
  std::size_t objectives_ = 1;
  std::optional<double> worst_;  // one objective: the worst score told
};

}  // namespace

std::vector<std::vector<Value>> grid_axes(const TuneSpec& spec) {
  // Each choice parameter, and each randint one of at most num_samples values, takes its every
  // value; the others (uniform, loguniform, wider randint) share what is left of num_samples
  // evenly, unless grid_points says.
  auto every_value = [&](const ParameterSpec& p) {
    return p.kind == ParameterKind::choice ||
           (p.kind == ParameterKind::randint &&
            p.upper - p.lower <= static_cast<double>(spec.num_samples));
  };
  double discrete = 1;
  std::size_t continuous = 0;
  for (const auto& p : spec.parameters) {
    if (p.kind == ParameterKind::choice) {
      discrete *= static_cast<double>(p.categories.size());
    } else if (every_value(p)) {
      discrete *= p.upper - p.lower;
    } else {
      ++continuous;
    }
  }
  std::size_t per = spec.algorithm.grid_points;
  if (per == 0) {
    const double room = std::max(1.0, static_cast<double>(spec.num_samples) / discrete);
    per = continuous == 0 ? 1
                          : static_cast<std::size_t>(std::floor(
                                std::pow(room, 1.0 / static_cast<double>(continuous)) + 1e-9));
    per = std::max<std::size_t>(per, 1);
  }
  std::vector<std::vector<Value>> axes;
  for (const auto& p : spec.parameters) {
    std::vector<Value> axis;
    if (p.kind == ParameterKind::choice) {
      axis = p.categories;
    } else if (every_value(p)) {
      for (auto i = static_cast<std::int64_t>(p.lower); i < static_cast<std::int64_t>(p.upper); ++i)
        axis.emplace_back(i);
    } else if (per == 1) {
      axis.push_back(from_unit(p, 0.5));
    } else {
      for (std::size_t i = 0; i < per; ++i) {
        const double u = static_cast<double>(i) / static_cast<double>(per - 1);
        axis.push_back(from_unit(p, u));
      }
      // A wide randint's points may round to the same value.
      axis.erase(std::unique(axis.begin(), axis.end()), axis.end());
    }
    axes.push_back(std::move(axis));
  }
  return axes;
}

std::vector<Value> middle_point(const TuneSpec& spec) {
  std::vector<Value> point;
  for (const auto& p : spec.parameters)
    point.push_back(from_unit(p, 0.5));
  return point;
}

std::vector<std::vector<Value>> grid_points(const TuneSpec& spec) {
  GridSearch search(spec);
  std::vector<std::vector<Value>> points;
  while (auto p = search.next())
    points.push_back(std::move(p->values));
  return points;
}

std::unique_ptr<Search> make_search(const TuneSpec& spec, const std::vector<Value>& start) {
  switch (spec.algorithm.type) {
    case SearchAlgorithm::random:
      return std::make_unique<RandomSearch>(spec);
    case SearchAlgorithm::grid:
      return std::make_unique<GridSearch>(spec);
    case SearchAlgorithm::nlopt:
      return std::make_unique<NloptSearch>(spec, start);
  }
  return nullptr;
}

}  // namespace patchbay::detail
