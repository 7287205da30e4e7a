// The observers: whole-data-set measurements of a network (docs/observables.md).
#pragma once

#include <rhonet/observe/evaluate.hpp>
#include <rhonet/observe/norms.hpp>
#include <rhonet/observe/margins.hpp>
#include <rhonet/observe/neural_collapse.hpp>
#include <rhonet/observe/lemma1.hpp>
#include <rhonet/observe/observation.hpp>
