/* placeholder so the harness library has a source until its modules land */
typedef int epr_harness_placeholder_;
