/* placeholder so the nn library has a source until its modules land */
typedef int epr_nn_placeholder_;
