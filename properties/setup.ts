/**
 * fast-check's default size ('small') keeps unbounded arrays and command lists at about ten
 * elements whatever their maxLength says, which hides bugs that need longer runs. One setting
 * here, rather than `size` on every arbitrary.
 */
import fc from 'fast-check';

fc.configureGlobal({ ...fc.readConfigureGlobal(), baseSize: 'medium' });
