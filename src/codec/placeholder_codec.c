/* placeholder so the codec library has a source until its modules land */
typedef int epr_codec_placeholder_;
