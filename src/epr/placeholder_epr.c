/* placeholder so the epr library has a source until its modules land */
typedef int epr_epr_placeholder_;
