// The optimisers and learning-rate schedules, one per header under optim/:
//   optimizer.hpp    the interface the trainer drives (step, lr, state)
//   in_backward.hpp  backward_and_step: the step inside a network's backward pass
//   sgd.hpp          SGD with momentum, Nesterov and coupled weight decay (torch.optim.SGD)
//   adam.hpp         Adam with L2 weight decay (torch.optim.Adam)
//   adamw.hpp        AdamW, decoupled weight decay (torch.optim.AdamW)
//   lr_schedule.hpp  lr per epoch: constant, step, cosine
//   plateau.hpp      reduce_lr_on_plateau (torch.optim.lr_scheduler.ReduceLROnPlateau)
#pragma once

#include <rhonet/optim/optimizer.hpp>
#include <rhonet/optim/in_backward.hpp>
#include <rhonet/optim/sgd.hpp>
#include <rhonet/optim/adam.hpp>
#include <rhonet/optim/adamw.hpp>
#include <rhonet/optim/lr_schedule.hpp>
#include <rhonet/optim/plateau.hpp>
